"""The bundled demo corpus: *The Halvard Encyclopedia*, a small fictional encyclopedia.

Seventy-four interlinked articles about the invented island republic of Estavia (its people, places,
organisations, works and events), written for this project so that `drsynth demo` can crawl, extract,
build a graph and synthesize multi-hop questions without touching the network or anyone's licence.
Facts are consistent across pages; nothing in it is real.

The site is static HTML under `site/`, served by `server.DemoSiteServer`. It deliberately contains
what a crawler and an entity resolver must cope with: redirect aliases (`site/_redirects.json`, served
as 301), several URL spellings of one article (fragment, query string, relative links, absolute links
on DEMO_HOST), a robots.txt-disallowed `/private/` page, a PNG behind an ordinary link, a red link that
answers 404, boilerplate pages and an off-site link.
"""

from __future__ import annotations

from pathlib import Path

SITE_DIR = Path(__file__).parent / "site"

# the stable host the demo crawls under; the crawler maps it to the local server so that stored URLs
# do not depend on the random port the server happened to bind
DEMO_HOST = "halvard.drsynth.test"

ENCYCLOPEDIA_NAME = "The Halvard Encyclopedia"

# wiki pages that are site furniture, not articles about an entity
NON_ARTICLE_PAGES = frozenset({"Index", "Disclaimer", "Contact", "Random"})
# articles about many entities (a discography, a list, a disambiguation page): not entities themselves
LIST_PAGES = frozenset({"Lina_Marr_discography", "List_of_cities_and_towns_of_Estavia", "Selva_(disambiguation)"})

# deliberate traps, so tests and stages can tell a planted failure from a real one
RED_LINKS = frozenset({"/wiki/Karl_Voss", "/wiki/Gullwing_Records"})  # linked, never written: answers 404
BINARY_PATHS = frozenset({"/files/map_of_the_realm.png"})  # linked like a page, is an image
PRIVATE_PREFIX = "/private/"  # disallowed by robots.txt; a polite crawler never requests it
