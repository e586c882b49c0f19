"""The console's actions over real HTTP: preview, approve, promote, roll back, and every refusal
(and the one rule confining an install's folder to `powerx serve --allow-install-from`).

A real `powerx serve --port 0` on a real release repo: hello 1.0.0 and 1.1.0 are in test,
other 1.0.0 is released and nowhere yet. rita and roy are release managers everywhere (the
console holds rita's approval key only), ada only in prod (and wrote the releases), quinn
a developer; victor is in no team (a viewer).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import Repo
from hostplugins import ServerProcess
from test_approvals import NOW, PASS, key, teams_data
from test_promote import publish
from test_web_auth import Browser, console_repo, make_token

from pipeline.errors import InputError
from pipeline.gitrepo import GitRepo, read_trailers
from pipeline.models.approvals import Teams
from pipeline.policy.signed_approvals import signed_approvals
from pipeline.promotion.promote import PromoteRequest, promote
from pipeline.snapshot import Snapshot
from pipeline.web.actions import confine
from pipeline.web.auth import RefusedError


@dataclass
class Site:
    repo: Repo
    url: str
    tokens: Path

    def user(self, login: str) -> Browser:
        """A browser logged in as `login`."""
        browser = Browser(self.url)
        browser.login(make_token(self.tokens, login))
        return browser

    def api(self, login: str) -> Browser:
        """An API client sending `login`'s bearer token."""
        token = make_token(self.tokens, login)
        return Browser(self.url, headers={"Authorization": f"Bearer {token}"})

    def head(self) -> str:
        return self.repo.git("rev-parse", "main")

    def trailers(self) -> dict[str, str]:
        git = GitRepo(self.repo.path)
        return read_trailers(git.resolve("main").message)


@pytest.fixture
def site(release_repo: Repo, tmp_path: Path) -> Iterator[Site]:
    repo = console_repo(release_repo)
    publish(repo, "1.0.0")
    publish(repo, "1.1.0")
    publish(repo, "1.0.0", plugin="other")
    for version in ("1.0.0", "1.1.0"):
        request = PromoteRequest(
            now=NOW, plugin="hello", version=version, to="test", operator="robot"
        )
        promote(GitRepo(repo.path), request, branch="main")
    rita_key = tmp_path / "rita.key"
    rita_key.write_bytes(key("rita")[1])
    tokens = tmp_path / "tokens.json"
    argv = ["powerx", "serve", "--repo", str(repo.path), "--port", "0", "--tokens", str(tokens)]
    argv += ["--key", str(rita_key)]
    with ServerProcess(argv, env={**os.environ, "PX_PASSPHRASE": PASS.decode()}) as server:
        yield Site(repo, server.url, tokens)


def test_a_preview_shows_the_change_and_writes_nothing(site: Site) -> None:
    head = site.head()
    anonymous = (
        Browser(site.url)
        .get("/actions/promote?plugin=other&version=1.0.0&env=test", "application/json")
        .json()
    )
    preview = anonymous["preview"]
    assert preview["changes"] == [
        {"path": "environments/test/plugins/other.yaml", "before": None, "after": "1.0.0"}
    ]
    assert "PowerX-Action: promote" in preview["message"]
    assert "PowerX-Environment: test" in preview["message"]
    assert anonymous["permission"] == {"allowed": False, "reason": "You are not logged in."}
    assert {"name": "env", "value": "test"} in anonymous["fields"]

    rita = site.user("rita")
    page = rita.get("/actions/promote?plugin=other&version=1.0.0&env=test")
    assert page.status == 200 and "Promote other@1.0.0: release -&gt; test." in page.body
    assert 'name="csrf" value="' in page.body and 'name="env" value="test"' in page.body
    as_json = rita.get("/actions/promote.json?plugin=other&version=1.0.0&env=test", "*/*").json()
    assert as_json["csrf"] == rita.csrf() and anonymous["csrf"] == ""  # for scripts, too
    assert "no push" in page.body
    rollback = rita.get("/actions/rollback.json?plugin=hello&env=test", "application/json").json()
    assert rollback["preview"]["changes"][0]["after"] == "1.0.0"
    assert rollback["inputs"] == [{"name": "reason", "value": ""}]
    form = rita.get("/actions/rollback?plugin=hello&env=test").body
    assert 'name="reason" value="" required' in form and 'name="version" value="1.0.0"' in form
    assert "PowerX-Operator: rita" in form  # the commit it will write names who acts
    approve = rita.get("/actions/approve?plugin=hello&version=1.1.0&env=prod").body
    assert "approvals/prod-rita.sigstore.json" in approve and "0/2 approval(s)" in approve
    held = rita.get("/actions/promote?plugin=hello")  # staging wants an approval first
    assert "Cannot be done now: 0/1 approval(s) for staging" in held.body
    assert 'action="/actions/promote"' not in held.body
    assert site.head() == head  # previews wrote nothing


def test_promote_commits_as_the_logged_in_user(site: Site) -> None:
    rita = site.user("rita")
    form = {"plugin": "other", "version": "1.0.0", "env": "test", "csrf": rita.csrf()}
    done = rita.post("/actions/promote", form=form)
    assert done.status == 303 and done.headers["location"].startswith("/actions/promote/done/")
    trailers = site.trailers()
    assert trailers["Action"] == "promote" and trailers["Operator"] == "rita"
    assert (trailers["Plugin"], trailers["Version"], trailers["Environment"]) == (
        "other",
        "1.0.0",
        "test",
    )
    result = rita.get(done.headers["location"])
    assert result.status == 200 and site.head()[:12] in result.body
    assert Browser(site.url).get(done.headers["location"], "application/json").status == 404

    again = {k: v for k, v in form.items() if k != "csrf"}  # a script: JSON, token in a header
    held = rita.post(
        "/actions/promote",
        body=again,
        headers={"X-CSRF-Token": rita.csrf()},
        accept="application/json",
    )
    assert held.status == 409 and "held back" in held.json()["message"]


def test_rollback_and_approve_over_the_json_api(site: Site) -> None:
    rita = site.api("rita")
    params = {"plugin": "hello", "env": "test", "reason": "error rate up"}
    rolled = rita.post("/actions/rollback", body=params, accept="application/json")
    assert rolled.status == 200, rolled.body
    assert rolled.json()["result"]["commit"] == site.head()
    trailers = site.trailers()
    assert (trailers["Action"], trailers["Operator"], trailers["Reason"]) == (
        "rollback",
        "rita",
        "error rate up",
    )
    assert trailers["Version"] == "1.0.0"

    approval = {"plugin": "hello", "version": "1.1.0", "env": "prod"}
    approved = rita.post("/actions/approve", body=approval, accept="application/json")
    assert approved.status == 200, approved.body
    assert site.trailers()["Operator"] == "rita" and site.trailers()["Action"] == "approve"
    git = GitRepo(site.repo.path)
    snapshot = Snapshot(git, git.resolve("main"))
    teams = Teams.model_validate(teams_data())
    records, problems = signed_approvals(snapshot, teams, "hello", "1.1.0", "prod")
    assert [r.approver for r in records] == ["rita"] and problems == []


def test_every_refusal_is_clear_and_writes_nothing(site: Site) -> None:
    head = site.head()
    rollback = {"plugin": "hello", "env": "test", "reason": "bad"}
    nobody = Browser(site.url).post("/actions/rollback", body=rollback, accept="application/json")
    assert nobody.status == 401 and nobody.json()["message"] == "this needs a login"

    quinn = site.api("quinn")
    wrong_role = quinn.post("/actions/rollback", body=rollback, accept="application/json")
    assert wrong_role.status == 403
    assert wrong_role.json()["message"] == (
        "quinn is developer in test; rollback needs release-manager"
    )
    victor = site.api("victor").post("/actions/rollback", body=rollback, accept="application/json")
    assert victor.status == 403 and "victor is viewer in test" in victor.json()["message"]

    rita = site.user("rita")
    missing = rita.post("/actions/rollback", form=rollback)
    assert missing.status == 403 and "CSRF token is missing or wrong" in missing.body
    forged = rita.post("/actions/rollback", form={**rollback, "csrf": "0" * 64})
    assert forged.status == 403
    cross = rita.post(
        "/actions/rollback",
        form={**rollback, "csrf": rita.csrf()},
        headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert cross.status == 403 and "cross-site" in cross.body
    # an opaque origin ('null') passes only when the browser says the post is same-origin
    opaque = rita.post(
        "/actions/rollback", form={**rollback, "csrf": rita.csrf()}, headers={"Origin": "null"}
    )
    assert opaque.status == 403 and "another origin" in opaque.body

    api = site.api("rita")
    cases = [
        ("rollback", {"plugin": "hello", "env": "test"}, 400, "a rollback needs a reason"),
        ("rollback", {**rollback, "plugin": "nope"}, 404, "nope"),
        ("rollback", {**rollback, "env": "moon"}, 404, "moon"),
        ("promote", {"plugin": "nope", "env": "test"}, 404, "nope"),
        ("promote", {"plugin": "hello", "version": "9.9.9", "env": "test"}, 404, "9.9.9"),
        ("promote", {"plugin": "hello"}, 400, "the parameter env"),
        ("approve", {"plugin": "hello", "version": "9.9.9", "env": "prod"}, 404, "9.9.9"),
        ("nothing", {}, 404, "there is no action 'nothing'"),
    ]
    for name, body, status, message in cases:
        answer = api.post(f"/actions/{name}", body=body, accept="application/json")
        assert answer.status == status, (name, body, answer.body)
        assert message in answer.json()["message"], (name, body, answer.body)
        page = api.post(f"/actions/{name}", body=body)
        assert page.status == status and "<h1>" in page.body
    unknown = api.get("/actions/promote?plugin=nope", "application/json")
    assert unknown.status == 404

    ada = site.api("ada")  # release manager in prod, but the author of the release
    own = ada.post(
        "/actions/approve",
        body={"plugin": "hello", "version": "1.1.0", "env": "prod"},
        accept="application/json",
    )
    assert own.status == 403
    assert "an author never approves their own release" in own.json()["message"]
    keyless = site.api("roy").post(  # a release manager whose key the console does not hold
        "/actions/approve",
        body={"plugin": "hello", "version": "1.1.0", "env": "prod"},
        accept="application/json",
    )
    assert keyless.status == 403
    assert keyless.json()["message"] == "the console holds no approval key of roy"
    assert site.head() == head


def test_install_paths_are_confined_to_the_allowed_roots(tmp_path: Path) -> None:
    root = tmp_path / "plugins"
    (root / "hello").mkdir(parents=True)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (root / "sneaky").symlink_to(outside)
    roots = (root.resolve(),)
    assert confine(str(root / "hello"), roots) == (root / "hello").resolve()
    for raw, status, message in [
        (str(outside), 403, "is outside the folders"),
        (str(root / "sneaky"), 403, "is outside the folders"),  # a link out of the root
        (str(root / ".." / "elsewhere"), 403, "is outside the folders"),
        ("plugins/hello", 400, "is not an absolute path"),
    ]:
        with pytest.raises(InputError) as refused:
            confine(raw, roots)
        assert message in refused.value.message, raw
        assert getattr(refused.value, "status", 400) == status, raw
    with pytest.raises(RefusedError) as off:
        confine(str(root / "hello"), ())
    assert off.value.status == 403 and "--allow-install-from" in (off.value.hint or "")
