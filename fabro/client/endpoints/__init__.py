"""Every API method of the SDK, written once: each builds the ``Call`` (or ``PagedCall``,
``StreamCall``) of one route, or a program of its own for what takes several requests
(following events, waiting, cancelling many: fabro/client/core.py), and ``@endpoint``,
``@paged``, ``@program`` and ``@events`` make it a method of ``FabroClient`` and of
``AsyncFabroClient`` (fabro/client/methods.py). Results are the server's own body types
(``fabro.api.bodies``): one source of truth for both ends.

The methods live in one module per area of the API; ``Endpoints`` gathers them, and its
bases' order is the order of docs/client-reference.md.
"""

from __future__ import annotations

from fabro.client.endpoints.control import ControlEndpoints
from fabro.client.endpoints.governance import GovernanceEndpoints
from fabro.client.endpoints.models import ModelEndpoints
from fabro.client.endpoints.questions import QuestionEndpoints
from fabro.client.endpoints.runs import RunEndpoints
from fabro.client.endpoints.server import ServerEndpoints
from fabro.client.endpoints.stages import StageEndpoints


class Endpoints(
    ServerEndpoints,
    RunEndpoints,
    QuestionEndpoints,
    StageEndpoints,
    GovernanceEndpoints,
    ControlEndpoints,
    ModelEndpoints,
):
    """The API's routes as methods; mixed into both clients."""
