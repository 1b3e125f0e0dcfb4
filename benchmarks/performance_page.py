# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docs/performance.md, where the on-demand benchmarks write their sections."""

from __future__ import annotations

import argparse
import json
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


REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(REPO_ROOT, "benchmarks", "results")


def benchmark_parser(docstring, collections=False):
    """The argument parser of a benchmark script: its description from the docstring's first paragraph,
    --report (write the section again from a saved result) and, for the scripts that drive the
    collection, --collections."""
    parser = argparse.ArgumentParser(description=docstring.split("\n\n", 1)[0])
    parser.add_argument("--report", metavar="JSON", help="only write the section again from a saved result")
    if collections:
        parser.add_argument("--collections", default=os.path.join(REPO_ROOT, ".build", "collections"),
                            help="a folder with this checkout as ansible_collections/mcpgateway/tuning")
    return parser


def load_result(path):
    with open(path) as handle:
        return json.load(handle)


def save_result(results, name):
    """Write a run's results to benchmarks/results/name; returns the path."""
    path = os.path.join(RESULTS, name)
    with open(path, "w") as handle:
        json.dump(results, handle, indent=1)
    return path
