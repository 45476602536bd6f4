"""Agent trajectories (DESIGN §6): the Tongyi-compatible ReAct format, the ReAct, context-management and
heavy runners, the teacher and scripted policies, and the trajectory stage."""

from drsynth.synth.agent.format import ToolCall, Turn, parse_turn, render_turn, system_prompt, tool_response
from drsynth.synth.agent.policy import Policy, PolicyError, TeacherPolicy
from drsynth.synth.agent.runner import (
    AgentLimits,
    TokenCounter,
    Trajectory,
    run_context,
    run_heavy,
    run_react,
)
from drsynth.synth.agent.scripted import ScriptedSearchPolicy
from drsynth.synth.agent.synthesize import AgentConfig, run_batch, trajectory_batches, write_trajectories

__all__ = [
    "AgentConfig", "AgentLimits", "Policy", "PolicyError", "ScriptedSearchPolicy", "TeacherPolicy", "TokenCounter",
    "ToolCall", "Trajectory", "Turn", "parse_turn", "render_turn", "run_batch", "run_context", "run_heavy",
    "run_react", "system_prompt", "tool_response", "trajectory_batches", "write_trajectories",
]
