# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docs/performance.md, where the on-demand benchmarks write their sections."""

from __future__ import annotations

import os

PERFORMANCE_PAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "performance.md")


def replace_section(text, start, end, heading):
    """Put text, which begins with the marker start and ends with end, in place of the page's
    section between those markers; a page without them gets it at its end, under heading."""
    with open(PERFORMANCE_PAGE) as handle:
        page = handle.read()
    if start in page:
        page = page[:page.index(start)] + text + page[page.index(end) + len(end):]
    else:
        page = page.rstrip("\n") + "\n\n## %s\n\n%s\n" % (heading, text)
    with open(PERFORMANCE_PAGE, "w") as handle:
        handle.write(page)
