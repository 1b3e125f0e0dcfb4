# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Let ansible-test bootstrap pip in its virtual environments without reaching its CI host.

ansible-test downloads get-pip-<version>.py from ci-files.testing.ansible.com unless
~/.ansible/test/cache/get_pip_<version>.py exists. This writes, for every pip version the
installed ansible-test asks for, a replacement that installs pip with ensurepip and then the
requested packages from the configured index. ensurepip runs in a child process because
in-process it points PIP_CONFIG_FILE at the null device, hiding pip.conf and its CA.

Usage: python ansible_test_offline.py HOME  (the HOME ansible-test will run with)
"""

from __future__ import annotations

import os
import re
import sys

import ansible_test

SHIM = """import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
subprocess.check_call([sys.executable, '-m', 'ensurepip', '--upgrade', '--default-pip'])
subprocess.check_call([sys.executable, '-m', 'pip', 'install', '-q'] + args)
"""


def pip_versions():
    source = os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")
    with open(source) as handle:
        versions = set(re.findall(r"pip=['\"]([0-9.]+)['\"]", handle.read()))
    if not versions:
        sys.exit("cannot find the pip version ansible-test bootstraps in %s" % source)
    return sorted(versions)


def main():
    cache = os.path.join(sys.argv[1], ".ansible", "test", "cache")
    os.makedirs(cache, exist_ok=True)
    for version in pip_versions():
        with open(os.path.join(cache, "get_pip_%s.py" % version.replace(".", "_")), "w") as handle:
            handle.write(SHIM)


if __name__ == "__main__":
    main()
