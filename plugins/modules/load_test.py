#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mcpgateway.tuning contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: load_test
short_description: Load an MCP gateway with hey and return throughput, latency percentiles and errors as data
version_added: 1.0.0
description:
  - Runs L(hey,https://github.com/rakyll/hey) on the host the task runs on (the controller with
    C(delegate_to), the gateway host, or a dedicated load host) against a gateway URL, bounded by a
    number of requests or a duration and by a hard time limit, and parses its report into data.
  - Before the run, sends the same request once and checks the answer. The gateway returns JSON-RPC
    errors with HTTP 200, so a C(jsonrpc) body with an C(error) fails the task, naming the error (a load
    test of a wrong call measures nothing).
  - "HTTP 429 answers mean the gateway's rate limiter was measured, not the gateway: the result then has
    RV(valid=false), the reason C(rate limited: results invalid), and no throughput figure."
author:
  - mcpgateway.tuning maintainers (@mcpgateway)
attributes:
  check_mode:
    support: partial
    details: A load test loads the service, so check mode sends nothing and reports the task skipped.
    description: Can run in check mode, where it sends nothing.
  diff_mode:
    support: none
    description: Nothing changes on the host.
options:
  url:
    description:
      - The URL to load, for example C(http://127.0.0.1:4444/rpc); an C(http) or C(https) URL with a host, without
        spaces or control characters.
    type: str
    required: true
  method:
    description: HTTP method.
    type: str
    default: GET
    choices: [GET, POST, PUT, PATCH, DELETE, HEAD]
  body:
    description: Request body, for example a JSON-RPC call rendered with C(to_json).
    type: str
  content_type:
    description: Content type of O(body).
    type: str
    default: application/json
  headers:
    description:
      - More request headers. Values are not shown in the output.
      - Names are header tokens; a value holding a line break or NUL is refused (it would end the header).
    type: dict
    default: {}
  token:
    description: A bearer token for the C(Authorization) header, for example minted with the gateway's own tool.
    type: str
  requests:
    description: Requests to send (1 to 10,000,000). Used when O(duration) is not set.
    type: int
    default: 1000
  duration:
    description: Seconds to run instead of a number of requests (1 to 3600).
    type: int
  concurrency:
    description: Concurrent clients (hey's C(-c), 1 to 10000); at most O(requests).
    type: int
    default: 50
  timeout:
    description: Seconds a single request may take before it counts as a timeout error (1 to 3600).
    type: int
    default: 20
  max_seconds:
    description:
      - Hard limit on the whole run (1 to 7200 seconds); hey is stopped past it and the task fails.
      - Defaults to O(duration) + O(timeout) + 30 seconds with a duration, 600 seconds otherwise.
    type: int
  check_response:
    description: Send the request once before the run and fail when its answer is not one of O(expect_status) or is a JSON-RPC error.
    type: bool
    default: true
  expect_status:
    description: HTTP statuses the check accepts.
    type: list
    elements: int
    default: [200]
  hey_path:
    description: The hey executable, by name on C(PATH) or by path.
    type: str
    default: hey
notes:
  - hey must be installed where the task runs (C(apt-get install hey) on Debian and Ubuntu); the task fails with
    that line when it is not.
  - Load only gateways you operate, from addresses you control.
"""

EXAMPLES = r"""
- name: Mint a token with the gateway's own tool and the service's environment
  ansible.builtin.command:
    argv: [runuser, -u, mcpgateway, --, /opt/mcpgateway/venv/bin/python, -m, mcpgateway.utils.create_jwt_token,
           --username, admin@example.com, --exp, "30"]
    chdir: /var/lib/mcpgateway
  register: token
  changed_when: false
  no_log: true

- name: Load the JSON-RPC endpoint for 30 seconds with 100 clients
  mcpgateway.tuning.load_test:
    url: http://127.0.0.1:4444/rpc
    method: POST
    body: '{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}'
    token: "{{ token.stdout }}"
    duration: 30
    concurrency: 100
  register: load                 # load.requests_per_second, load.latency_ms.p99, load.status_codes, load.valid
"""

RETURN = r"""
valid:
  description: Whether the figures measure the gateway (false when it rate-limited or nothing answered).
  returned: success
  type: bool
reason:
  description: One line saying what the run measured, or why its figures are invalid.
  returned: success
  type: str
  sample: "5236 requests, 174.5 requests/s, p99 612.3 ms, 0 non-2xx, 0 errors"
requests:
  description: Requests sent (responses and errors).
  returned: success
  type: int
requests_per_second:
  description: Throughput hey measured; null when the run is invalid.
  returned: success
  type: float
total_seconds:
  description: How long the run took.
  returned: success
  type: float
latency_ms:
  description: Latency percentiles C(p10), C(p25), C(p50), C(p75), C(p90), C(p95), C(p99), and C(min), C(max), C(average), in milliseconds.
  returned: success
  type: dict
status_codes:
  description: Responses by HTTP status.
  returned: success
  type: dict
  sample: {"200": 5230, "503": 6}
non_2xx:
  description: Responses outside 200-299.
  returned: success
  type: int
errors:
  description: Requests that got no response.
  returned: success
  type: int
error_kinds:
  description: Those errors by kind (timeout, connection refused, connection reset, closed by the server, too many open files, other).
  returned: success
  type: dict
error_messages:
  description: Those errors by hey's message.
  returned: success
  type: dict
check:
  description: The status and the first 300 characters of the answer to the request sent before the run.
  returned: when O(check_response=true)
  type: dict
"""

import json
import os
import re
import shutil

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url
from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six.moves.urllib.parse import urlsplit

from ansible_collections.mcpgateway.tuning.plugins.module_utils.load_report import LoadReportError, judge, parse_hey
from ansible_collections.mcpgateway.tuning.plugins.module_utils.option_ranges import HOUR, fail_outside_ranges

HEY_INSTALL = "apt-get install hey (Debian, Ubuntu), or go install github.com/rakyll/hey@latest"
# A load test here runs at most an hour; hey opens one connection per concurrent worker.
LOAD_TEST_RANGES = {"requests": (1, 10 ** 7, ""), "concurrency": (1, 10000, ""), "timeout": (1, HOUR, "seconds"),
                    "duration": (1, HOUR, "seconds"), "max_seconds": (1, 2 * HOUR, "seconds")}
# RFC 9110's token: what a header name may hold.
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def url_problem(url):
    """Why url is not something hey can load, or ''."""
    try:
        parts = urlsplit(url)
        parts.port  # pylint: disable=pointless-statement
    except ValueError as error:
        return "url %r cannot be parsed (%s): give http(s)://host:port/path" % (url, error)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "url %r is not an http:// or https:// URL with a host: give http(s)://host:port/path" % url
    if any(character in url for character in "\r\n\0 "):
        return "url %r holds a space or a control character: percent-encode it" % url
    return ""


def headers_problem(headers):
    """Why a header cannot be sent, or '': a line break in it would end the header (values are not
    shown: headers may hold credentials)."""
    for name, value in headers.items():
        if not HEADER_NAME.match(str(name)):
            return "headers: %r is not a header name (letters, digits and !#$%%&'*+-.^_`|~ only)" % str(name)
        if any(character in str(value) for character in "\r\n\0"):
            return "headers.%s holds a line break or NUL, which would end the header: remove it" % name
    return ""


def request_headers(params):
    headers = dict(params["headers"])
    if params["token"]:
        headers["Authorization"] = "Bearer " + params["token"]
    if params["body"] is not None:
        headers.setdefault("Content-Type", params["content_type"])
    return headers


def check_call(module, headers):
    """Send the request once; fail when the answer shows the call itself is wrong."""
    params = module.params
    try:
        body = params["body"].encode("utf-8") if params["body"] is not None else None
        response = open_url(params["url"], method=params["method"], data=body, headers=headers,
                            timeout=params["timeout"], validate_certs=True)
        status, text = response.getcode(), response.read().decode("utf-8", "replace")
    except HTTPError as error:
        status, text = error.code, error.read().decode("utf-8", "replace")
    except (URLError, OSError) as error:
        module.fail_json(msg="%s does not answer: %s. Start the gateway or fix the URL" % (params["url"], error))
    check = {"status": status, "body": text[:300]}
    if status == 429:
        module.fail_json(msg="rate limited: results invalid (HTTP 429 before the run even started; turn the gateway's "
                             "rate limiting off for the test, RATE_LIMITING_ENABLED=false)", check=check)
    if status not in params["expect_status"]:
        module.fail_json(msg="the call itself fails: %s %s answered HTTP %d (%s); expected %s. Fix the URL, method, "
                             "body or token" % (params["method"], params["url"], status, text[:200].strip(),
                                                params["expect_status"]), check=check)
    try:
        answer = json.loads(text)
    except ValueError:
        answer = None
    if isinstance(answer, dict) and "jsonrpc" in answer and answer.get("error"):
        error = answer["error"]
        module.fail_json(msg="the call itself fails: the gateway answered HTTP %d with JSON-RPC error %s %s. Fix "
                             "the method or its parameters" % (status, error.get("code"), error.get("message")),
                         check=check)
    return check


def hey_command(hey, params, headers):
    command = [hey, "-c", str(min(params["concurrency"], params["requests"]) if params["duration"] is None
                              else params["concurrency"]),
               "-t", str(params["timeout"]), "-m", params["method"]]
    command += ["-z", "%ds" % params["duration"]] if params["duration"] is not None else ["-n", str(params["requests"])]
    for name, value in headers.items():
        if name.lower() == "content-type":
            command += ["-T", value]
        else:
            command += ["-H", "%s: %s" % (name, value)]
    if params["body"] is not None:
        command += ["-d", params["body"]]
    return command + [params["url"]]


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", required=True),
            method=dict(type="str", default="GET", choices=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]),
            body=dict(type="str"),
            content_type=dict(type="str", default="application/json"),
            headers=dict(type="dict", default={}, no_log=True),
            token=dict(type="str", no_log=True),
            requests=dict(type="int", default=1000),
            duration=dict(type="int"),
            concurrency=dict(type="int", default=50),
            timeout=dict(type="int", default=20),
            max_seconds=dict(type="int"),
            check_response=dict(type="bool", default=True),
            expect_status=dict(type="list", elements="int", default=[200]),
            hey_path=dict(type="str", default="hey"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    fail_outside_ranges(module, LOAD_TEST_RANGES)
    problem = url_problem(params["url"]) or headers_problem(params["headers"])
    if problem:
        module.fail_json(msg=problem)
    if module.check_mode:
        module.exit_json(changed=False, skipped=True, msg="check mode: no load generated")

    hey = shutil.which(params["hey_path"]) if os.sep not in params["hey_path"] else params["hey_path"]
    if not hey or not os.access(hey, os.X_OK):
        module.fail_json(msg="hey is not installed on this host (%s not found): %s" % (params["hey_path"], HEY_INSTALL))
    headers = request_headers(params)
    result = {"changed": False}
    if params["check_response"]:
        result["check"] = check_call(module, headers)

    max_seconds = params["max_seconds"] or (params["duration"] + params["timeout"] + 30 if params["duration"] else 600)
    rc, out, err = module.run_command(["timeout", "--kill-after=5", str(max_seconds)]
                                      + hey_command(hey, params, headers))
    if rc in (124, 137):
        module.fail_json(msg="hey ran past max_seconds (%d s) and was stopped: send fewer requests, or raise "
                             "max_seconds" % max_seconds, **result)
    if rc != 0:
        module.fail_json(msg="hey failed (rc=%d): %s" % (rc, (err or out).strip()[-500:]), **result)
    try:
        report = parse_hey(out)
    except LoadReportError as error:
        module.fail_json(msg=str(error), **result)
    valid, reason = judge(report)
    if not valid:
        report["requests_per_second"] = None
        module.warn(reason)
    report["status_codes"] = dict((str(code), count) for code, count in report["status_codes"].items())
    result.update(report, valid=valid, reason=reason)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
