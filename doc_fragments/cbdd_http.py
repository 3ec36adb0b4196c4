# -*- coding: utf-8 -*-
# Copyright: Clinical BDD Creator operations
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of the options of one HTTP(S) health check, written once.

``extends_documentation_fragment: cbdd_http`` documents them as options (cbdd_http_check);
``cbdd_http.endpoints`` as the suboptions of each item of O(endpoints) (cbdd_stack_health).
Both match ``HTTP_CHECK_ARGS`` in module_utils/cbdd_health.py (tests/unit/test_module_docs.py).
Ansible merges fragments into the top-level options only, so the endpoints option itself is
documented here too, its suboptions built from the same text.
"""

import textwrap

# The options of one check. O(...) references name sibling options; for the suboptions of
# endpoints they become O(endpoints[].name).
_CHECK_OPTIONS = r'''
url:
  description: URL to request, C(http://) or C(https://).
  type: str
  required: true
status_code:
  description: Acceptable HTTP statuses.
  type: list
  elements: int
  default: [200]
expect_json:
  description:
    - Fields the JSON body must contain, as a mapping of field path to expected value.
      Paths may be dotted (C(checks.db.status)); list items are addressed by index (C(items.0.name)).
    - Scalars compare by their JSON text, so C("200") matches C(200) and
      C("true") matches C(true); lists and dicts must be equal.
  type: dict
validate_certs:
  description: Verify the server certificate. V(false) is the explicit insecure switch.
  type: bool
  default: true
ca_path:
  description: PEM CA bundle to verify the server certificate against (instead of the system store).
  type: path
server_name:
  description:
    - Name for SNI, certificate verification and the C(Host) header
      (with the URL's port if not the default), e.g. to reach
      C(https://127.0.0.1:8443) as C(clinical.example.org).
  type: str
headers:
  description: Extra request headers (override C(Host) and the defaults).
  type: dict
  default: {}
timeout:
  description: Seconds for each attempt (connect and read), capped by what is left of O(deadline).
  type: float
  default: 10.0
retries:
  description: Extra attempts after the first failed one.
  type: int
  default: 0
delay:
  description: Seconds to wait before the first retry.
  type: float
  default: 1.0
backoff_factor:
  description: Each further pause is the previous one times this factor (exponential backoff).
  type: float
  default: 2.0
max_delay:
  description: Upper bound for a single pause, in seconds.
  type: float
  default: 30.0
deadline:
  description:
    - Overall time budget in seconds for all attempts and pauses. No attempt starts
      once its pause would end past the deadline; unset means no overall limit.
  type: float
'''

_ENDPOINTS = r'''
options:
  endpoints:
    description: Services to check. Each item takes the options of M(cbdd_http_check) plus O(endpoints[].name).
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Service name (unique), the key of RV(services).
        type: str
        required: true
'''


def _indent(text, spaces):
    """``text`` (YAML lines) indented by ``spaces``."""
    return textwrap.indent(text.strip('\n'), ' ' * spaces) + '\n'


class ModuleDocFragment:  # pylint: disable=too-few-public-methods
    """The HTTP check options: DOCUMENTATION (top level) and ENDPOINTS (cbdd_stack_health)."""

    DOCUMENTATION = 'options:\n' + _indent(_CHECK_OPTIONS, 2)

    ENDPOINTS = _ENDPOINTS.lstrip('\n') + _indent(_CHECK_OPTIONS.replace('O(', 'O(endpoints[].'), 6)
