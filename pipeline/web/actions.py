"""The action machinery: GET /actions/{name} previews, POST /actions/{name} does it.

A preview writes nothing: it shows what the action will change (files, versions, the
commit message and trailers) and a form carrying the previewed parameters, the session's
CSRF token and the inputs the action asks for. A POST needs an identity, the action's
role in its scope (policies/console.yaml), the CSRF token of a browser session and a
same-origin request; then `apply` runs with the user as operator and the answer is a 303
to the result page (JSON: the result). A refused or failed action is a 4xx with its
reason, and nothing is written. Also /login and /logout.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from pipeline.errors import GateError, InputError
from pipeline.models.access import allows
from pipeline.snapshot import Snapshot
from pipeline.web.auth import (
    CSRF_FIELD,
    SESSION_COOKIE,
    Identity,
    RefusedError,
    check_origin,
    current_identity,
    local_path,
    login_url,
    read_fields,
    require_identity,
)
from pipeline.web.views import LOCAL_SCOPE, Action, Data, NotFoundError, Params, Source

if TYPE_CHECKING:
    from pipeline.web.app import Console

RESULTS_KEPT = 200
"""Result pages kept in memory (the oldest go first); the commit stays in the audit."""


def role_of(source: Source, login: str, scope: str) -> str:
    """`login`'s role in `scope`, from the repo's teams and console roles at its head.

    In the local host's scope (LOCAL_SCOPE) it is the user's highest role anywhere.
    """
    policies = Snapshot(source.git, source.head).policies()
    teams = policies.teams.teams_of(login)
    if scope == LOCAL_SCOPE:
        return policies.access.highest_role(teams)
    return policies.access.role_in(teams, scope)


def permission(source: Source, action: Action, params: Params, who: Identity | None) -> Data:
    """Whether `who` may do `action` with `params`: {allowed, role, scope, reason}."""
    if who is None:
        return {"allowed": False, "reason": "You are not logged in.", "scope": None}
    try:
        scope = action.scope(params)
    except InputError as error:  # a parameter the preview fills in: it says what
        return {"allowed": False, "reason": error.message, "scope": None}
    held = role_of(source, who.login, scope)
    if allows(held, action.role):
        return {"allowed": True, "reason": "", "scope": scope, "held": held}
    reason = f"{who.login} is {held} in {scope}; {action.name} needs {action.role}"
    return {"allowed": False, "reason": reason, "scope": scope, "held": held}


class Actions:
    """The routes of every registered action, and the results of the ones done."""

    def __init__(self, console: Console, actions: list[Action]) -> None:
        self.console = console
        self.actions = {action.name: action for action in actions}
        self.results: OrderedDict[str, tuple[str, str, Data]] = OrderedDict()

    def routes(self) -> list[Route]:
        return [
            Route("/login", self.login_form, methods=["GET", "HEAD"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.logout_form, methods=["GET", "HEAD"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/actions/{name}.json", self.preview, methods=["GET", "HEAD"]),
            Route("/actions/{name}", self.preview, methods=["GET", "HEAD"]),
            Route("/actions/{name}", self.apply, methods=["POST"]),
            Route("/actions/{name}/done/{result}", self.done, methods=["GET", "HEAD"]),
        ]

    async def login_form(self, request: Request) -> Response:
        target = local_path(request.query_params.get("next"))
        return self.console.answer(request, "login.html", {"next": target, "message": ""})

    async def login(self, request: Request) -> Response:
        from pipeline.web.app import wants_json

        check_origin(request, self.console.settings.allowed_hosts)
        fields = await read_fields(request)
        target = local_path(fields.get("next"))
        client = request.client.host if request.client else "unknown"
        try:
            login, session_id = self.console.auth.login(fields.get("token", ""), client)
        except RefusedError as refusal:
            if wants_json(request) or refusal.status != 401:
                raise
            data = {"next": target, "message": refusal.message, "hint": refusal.hint}
            return self.console.page("login.html", data, status=401)
        answer: Response
        if wants_json(request):
            answer = JSONResponse({"login": login, "next": target})
        else:
            answer = RedirectResponse(target, status_code=303)
        self.console.auth.session_cookie(answer, session_id)
        return answer

    async def logout_form(self, request: Request) -> Response:
        return self.console.answer(request, "logout.html", {"done": False})

    async def logout(self, request: Request) -> Response:
        check_origin(request, self.console.settings.allowed_hosts)
        who = require_identity(current_identity.get())
        fields = await read_fields(request)
        self.console.auth.check_csrf(request, who, fields.get(CSRF_FIELD))
        self.console.auth.logout(who)
        current_identity.set(None)
        answer = self.console.answer(request, "logout.html", {"done": True})
        answer.delete_cookie(SESSION_COOKIE, path="/")
        return answer

    def find(self, name: str) -> Action:
        name = name.removesuffix(".json")
        if name not in self.actions:
            known = ", ".join(sorted(self.actions)) or "none"
            raise NotFoundError(f"there is no action {name!r}", hint=f"actions: {known}")
        return self.actions[name]

    async def preview(self, request: Request) -> Response:
        action = self.find(request.path_params["name"])
        params = Params(request.query_params)
        who = current_identity.get()

        def data() -> Data:
            source = self.console.source()
            preview = action.preview(source, params)
            allowed = permission(source, action, params, who)
            fields = {**params.values, **preview.get("params", {})}
            return {
                "action": action.name,
                "title": action.title,
                "url": action.url,
                "role": action.role,
                "scope": allowed["scope"],
                "permission": {"allowed": allowed["allowed"], "reason": allowed["reason"]},
                "preview": preview,
                "fields": [
                    {"name": k, "value": v}
                    for k, v in fields.items()
                    if k not in action.inputs and k != CSRF_FIELD
                ],
                "inputs": [{"name": k, "value": fields.get(k, "")} for k in action.inputs],
                "login": login_url(request),
                "csrf": self.console.auth.csrf_token(who),
            }

        answer = await run_in_threadpool(guarded, data)
        return self.console.answer(request, "action.html", answer)

    async def apply(self, request: Request) -> Response:
        from pipeline.web.app import wants_json

        action = self.find(request.path_params["name"])
        check_origin(request, self.console.settings.allowed_hosts)
        who = require_identity(current_identity.get())
        fields = await read_fields(request)
        self.console.auth.check_csrf(request, who, fields.pop(CSRF_FIELD, None))
        params = Params(fields)

        def run() -> Data:
            source = self.console.source()
            action.scope(params)  # a missing parameter is a 400, before any role check
            allowed = permission(source, action, params, who)
            if not allowed["allowed"]:
                raise RefusedError(403, allowed["reason"], hint="ask an admin for the role")
            return action.apply(source, params, who.login)

        result = await run_in_threadpool(guarded, run)
        key = secrets.token_urlsafe(12)
        self.results[key] = (who.login, action.name, result)
        while len(self.results) > RESULTS_KEPT:
            self.results.popitem(last=False)
        url = local_path(f"/actions/{action.name}/done/{key}")
        if wants_json(request):
            body = {"action": action.name, "operator": who.login, "result": result, "url": url}
            return JSONResponse(body, headers={"vary": "Accept"})
        return RedirectResponse(url, status_code=303)

    async def done(self, request: Request) -> Response:
        action = self.find(request.path_params["name"])
        who = current_identity.get()
        kept = self.results.get(request.path_params["result"])
        if kept is None or who is None or kept[0] != who.login or kept[1] != action.name:
            raise NotFoundError(
                "there is no such result (results are kept in memory for their operator)",
                hint="the commit is in the audit trail: /audit",
            )
        data = {"action": action.name, "title": action.title, "operator": kept[0]}
        return self.console.answer(request, "action_done.html", {**data, "result": kept[2]})


def guarded(work: Callable[[], Data]) -> Data:
    """`work()`, with a gate's refusal (a promotion held, a conflict) as a 409."""
    try:
        return work()
    except GateError as error:
        raise RefusedError(409, error.message, hint=error.hint) from None


def confine(raw: str, roots: tuple[Path, ...]) -> Path:
    """The folder `raw` names, resolved (links followed), when it lies under one of `roots`
    (`powerx serve --allow-install-from`); RefusedError (403) otherwise, InputError (400)
    for a path that is not absolute."""
    if not roots:
        raise RefusedError(
            403,
            "installing from a local directory is off on this console",
            hint="start it with `powerx serve --allow-install-from DIR`",
        )
    path = Path(raw)
    if not path.is_absolute() or "\0" in raw:
        raise InputError(f"{raw!r} is not an absolute path", hint="give the folder's full path")
    resolved = path.resolve()
    if not any(resolved.is_relative_to(root) for root in roots):
        allowed = ", ".join(str(root) for root in roots)
        raise RefusedError(
            403,
            f"{raw} is outside the folders plugins may be installed from",
            hint=f"allowed: {allowed}",
        )
    return resolved
