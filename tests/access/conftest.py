"""The access tests share the API tests' world of departments, clinicians and patients."""

from tests.web.test_access_policy import world  # noqa: F401 - a fixture, re-exported for tests/access
