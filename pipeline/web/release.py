"""The release view: one release manifest with its gates, evidence, signature and approvals.

`/release/{plugin}/{version}` shows the gates (with links to their evidence), the signature
(verified with `pipeline.signing`'s `verify_bundle` under the repo's trust policy, and the
signer row of that policy that accepts it), the approvals per environment (signed records;
environments that land by pull request count its reviews), where the release stands and
where it moves next, the rollback playbook and the contacts. The promotion history is a
separate, bounded part (`/release/{plugin}/{version}/history`, loaded after the page), so
the page costs what the release holds, not the repo's history. `/release/{plugin}` lists
the versions; `/release/{plugin}/{version}/evidence?path=...` shows one file of the
release's folder, and nothing outside it (pipeline/web/evidence.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cached_property
from itertools import islice
from urllib.parse import quote, urlencode

from pipeline import layout
from pipeline.errors import GateError, InputError
from pipeline.gitrepo import Commit, GitRepo
from pipeline.models.policy import PolicySet
from pipeline.models.release import Release
from pipeline.names import require_plugin, require_release
from pipeline.policy.gates import ReleaseGates
from pipeline.policy.release_approvals import release_approvals
from pipeline.policy.release_signature import verify_release_bundle
from pipeline.policy.results import GateResult
from pipeline.policy.trust_list import signer_rows
from pipeline.promotion.audit import AuditQuery
from pipeline.signing.bundle import MAX_BUNDLE_BYTES
from pipeline.signing.statement import check_release_names
from pipeline.snapshot import Loaded, Snapshot
from pipeline.web.audit import entry_data, trail
from pipeline.web.canary import not_found
from pipeline.web.matrix import environments, next_move, one_line
from pipeline.web.views import Data, Params, Source, View

TIMELINE_ENTRIES = 20
"""Entries the history part shows at most (the whole trail is one link away)."""
TIMELINE_COMMITS = 200
"""Mainline commits the history part looks back over at most."""
PLANS_KEPT = 4_096
"""Plugins whose plan a `ReleaseReads` keeps before it starts afresh."""


class ReleaseReads:
    """What the release pages of one head share, worked out once: the snapshot, its
    policies and environments, one clock, and each plugin's plan (where it runs, its next
    move and why: the same for every version of the plugin).

    The console makes one per request (a page reads the head and the clock of its
    request); the static site one per build and process (`sitebuild`), its clock the
    build's, so a plugin's versions share its plan.
    """

    def __init__(self, git: GitRepo, head: Commit, now: datetime | None = None) -> None:
        self.head = head
        self.snapshot = Snapshot(git, head)
        self.now = now if now is not None else datetime.now(UTC)
        self._plans: dict[str, Data] = {}

    @cached_property
    def policies(self) -> PolicySet:
        """The head's policies (InputError, every time asked, when a file is bad)."""
        return self.snapshot.policies()

    @cached_property
    def environments(self) -> list[str]:
        """The head's environments in the matrix's order (`matrix.environments`)."""
        return environments(self.snapshot)

    def plan(self, plugin: str) -> Data:
        """`plan_data` of `plugin`, worked out once."""
        found = self._plans.get(plugin)
        if found is None:
            if len(self._plans) >= PLANS_KEPT:
                self._plans.clear()
            found = self._plans[plugin] = plan_data(self, plugin)
        return found


def release_url(plugin: str, version: str) -> str:
    """The release page of plugin@version."""
    return f"/release/{quote(plugin)}/{quote(version)}"


def evidence_url(plugin: str, version: str, folder: str, path: str) -> str | None:
    """The evidence view of a repo path, when it lies inside the release folder."""
    if not path.startswith(folder + "/"):
        return None
    relative = path[len(folder) + 1 :]
    return f"{release_url(plugin, version)}/evidence?" + urlencode({"path": relative})


def find_release(snapshot: Snapshot, plugin: str, version: str) -> Loaded[Release]:
    """The manifest, or NotFoundError with did-you-mean (plugin, then version)."""
    try:
        return require_release(snapshot, plugin, version)
    except InputError as error:
        if error.location is not None:  # the manifest exists but does not validate
            raise
        raise not_found(error) from None


def gate_data(result: GateResult, plugin: str, version: str, folder: str) -> Data:
    """One gate result, with a link to its evidence file."""
    return {
        "gate": result.gate,
        "status": result.status,
        "expected": result.expected,
        "found": result.found,
        "message": result.message,
        "hint": result.hint,
        "where": result.where,
        "evidence": result.evidence,
        "evidence_url": (
            evidence_url(plugin, version, folder, result.evidence) if result.evidence else None
        ),
    }


def signature_data(reads: ReleaseReads, loaded: Loaded[Release]) -> Data:
    """Present? Valid under the trust policy? Who signed, and which trusted signer it is."""
    snapshot, policies, now = reads.snapshot, reads.policies, reads.now
    release = loaded.model
    folder = layout.release_dir(release.plugin, release.version)
    reference = release.artifact.signature
    data: Data = {
        "present": False,
        "bundle": None,
        "bundle_url": None,
        "valid": False,
        "mode": None,
        "signer": None,
        "issuer": None,
        "rule": None,
        "accepted_in": [],
        "checks": [],
        "refusal": None,
    }
    if reference is None:
        data["refusal"] = f"{release.ref} names no signature bundle (artifact.signature)"
        return data
    try:
        path = layout.evidence_path(folder, reference, manifest=loaded.locate("artifact"))
        found = snapshot.git.read_blob(snapshot.commit, path, max_bytes=MAX_BUNDLE_BYTES)
    except InputError as error:
        data["refusal"] = one_line(error)
        return data
    data["bundle"] = path
    data["bundle_url"] = evidence_url(release.plugin, release.version, folder, path)
    if found is None:
        data["refusal"] = f"the bundle {path} is not in the repo"
        return data
    data["present"] = True
    try:
        # as the signature gate verified it (cached): a refusal names the file
        verified = verify_release_bundle(
            snapshot.git, release, found, policies.signing, now=now, source=path
        )
        check_release_names(verified.release, release.plugin, release.version)
    except (GateError, InputError) as refusal:
        data["refusal"] = refusal.message
        return data
    data.update(
        valid=True,
        mode=verified.mode,
        signer=verified.signer,
        issuer=verified.issuer,
        checks=list(verified.checks),
    )
    for row in signer_rows(policies.signing, list(policies.promotion.order)):
        if verified.mode == "key" and row.kind == "key" and row.key_id == verified.signer:
            named = f"{row.name} ({row.key_id})" if row.name else row.key_id
            data["rule"] = f"trusted key {named} in policies/signing.yaml"
        elif verified.mode != "key" and row.kind == "identity" and row.issuer == verified.issuer:
            rule = next(
                (
                    r
                    for r in policies.signing.identities
                    if r.subject == row.subject and r.subject_pattern == row.subject_pattern
                ),
                None,
            )
            if rule is None or not rule.matches_subject(verified.signer):
                continue
            data["rule"] = f"trusted identity {rule.describe()} in policies/signing.yaml"
        else:
            continue
        data["accepted_in"] = list(row.environments)
        break
    return data


def approvals_data(
    snapshot: Snapshot, policies: PolicySet, plugin: str, version: str, now: datetime
) -> list[Data]:
    """Per environment of the order: the signed records judged by its approval rules."""
    folder = f"{layout.release_dir(plugin, version)}/approvals"
    records = sorted(
        name for name, is_dir in snapshot.git.list_dir(snapshot.commit, folder) if not is_dir
    )
    rows = []
    for env in policies.promotion.order:
        row: Data = {
            "environment": env,
            "by_pull_request": policies.promotion.lands_by_pull_request(env),
            "records": [
                {
                    "name": name,
                    "url": evidence_url(
                        plugin, version, folder.rsplit("/", 1)[0], f"{folder}/{name}"
                    ),
                }
                for name in records
                if name.startswith(f"{env}-")
            ],
        }
        if not row["records"] and policies.approvals.for_environment(env).required == 0:
            rows.append(  # nothing to judge: no walk back to the commit that published it
                {
                    **row,
                    "error": None,
                    "required": 0,
                    "satisfied": True,
                    "summary": f"no approval needed for {env}",
                    "counted": [],
                    "refused": [],
                    "problems": [],
                }
            )
            continue
        try:
            judged = release_approvals(snapshot, policies, plugin, version, env, now=now)
        except InputError as error:
            rows.append({**row, "error": one_line(error)})
            continue
        verdict = judged.verdict
        rows.append(
            {
                **row,
                "error": None,
                "required": verdict.required,
                "satisfied": verdict.satisfied,
                "summary": judged.describe(),
                "counted": [
                    {"approver": a.approver, "at": a.at.isoformat(), "source": a.source}
                    for a in verdict.counted
                ],
                "refused": [
                    {"approver": r.approval.approver, "reason": r.reason} for r in verdict.refused
                ],
                "problems": list(judged.problems),
            }
        )
    return rows


def plan_data(reads: ReleaseReads, plugin: str) -> Data:
    """Where the plugin runs now (and any canary), and its next move with the reason."""
    snapshot, policies, now = reads.snapshot, reads.policies, reads.now
    where: list[Data] = []
    for env in reads.environments:
        try:
            loaded = snapshot.plugin_state(env, plugin)
        except InputError as error:
            where.append(
                {
                    "environment": env,
                    "version": None,
                    "enabled": None,
                    "canary": None,
                    "error": one_line(error),
                }
            )
            continue
        state = loaded.model if loaded is not None else None
        canary = state.canary if state is not None else None
        where.append(
            {
                "environment": env,
                "version": state.version if state else None,
                "enabled": state.enabled if state else None,
                "canary": (
                    {
                        "version": canary.version,
                        "weight": canary.weight,
                        "url": f"/canary/{quote(plugin)}/{quote(env)}",
                    }
                    if canary
                    else None
                ),
                "error": None,
            }
        )
    move = next_move(snapshot, plugin, now, policies)
    window = None
    if move is not None and move["into"]:
        window = policies.windows.closed_because(move["into"], now) or f"{move['into']} is open now"
    return {"where": where, "next": move, "window": window}


def release_data(source: Source, params: Params) -> Data:
    """Everything about one release, read at the repo's head now."""
    return release_page(source, params, ReleaseReads(source.git, source.head))


def release_page(source: Source, params: Params, reads: ReleaseReads) -> Data:
    """`release_data` with what the pages of `reads` (its head and clock) share."""
    if reads.head.id != source.head.id:
        raise ValueError(f"reads of {reads.head.id} for a page of {source.head.id}")
    plugin, version = params.text("plugin") or "", params.text("version") or ""
    snapshot = reads.snapshot
    loaded = find_release(snapshot, plugin, version)
    release = loaded.model
    policies = reads.policies
    now = reads.now
    folder = layout.release_dir(plugin, version)
    try:
        results = ReleaseGates(policies, snapshot, snapshot, loaded, now=now).evaluate()
        gates, gates_error = [gate_data(r, plugin, version, folder) for r in results], None
    except InputError as error:
        gates, gates_error = [], one_line(error)
    page = release_url(plugin, version)
    files = sorted(source.git.files(source.head, folder))
    approvals = approvals_data(snapshot, policies, plugin, version, now)
    plan = reads.plan(plugin)
    return {
        "view": "release",
        "part": None,
        "head": source.head.id,
        "plugin": plugin,
        "version": version,
        "json": page + ".json",
        "notes": release.notes,
        "changes": [
            {"id": c.id, "title": c.title, "link": str(c.link) if c.link else None}
            for c in release.changes
        ],
        "artifact": {
            "uri": release.artifact.uri,
            "sha256": release.artifact.sha256,
            "size": release.artifact.size,
        },
        "license": release.license,
        "compatibility": dict(release.compatibility),
        "dependencies": dict(release.dependencies),
        "channels": list(release.channels),
        "gates": gates,
        "gates_error": gates_error,
        "passed": not gates_error and all(g["status"] != "fail" for g in gates),
        "signature": signature_data(reads, loaded),
        "approvals": approvals,
        "plan": plan,
        "rollback": {"playbook": release.rollback.playbook, "to": release.rollback.to},
        "contacts": [{"name": c.name, "email": c.email, "role": c.role} for c in release.contacts],
        "files": [
            {"path": path[len(folder) + 1 :], "url": evidence_url(plugin, version, folder, path)}
            for path in files
        ],
        "history": page + "/history",
        "history_part": page + "/history?" + urlencode({"part": "fragment"}),
        "audit": "/audit?" + urlencode({"plugin": plugin}),
        "versions": f"/release/{quote(plugin)}",
    }


def history_data(source: Source, params: Params) -> Data:
    """The plugin's latest audit entries, over at most `TIMELINE_COMMITS` mainline commits."""
    plugin, version = params.text("plugin") or "", params.text("version") or ""
    part = params.text("part")
    if part not in (None, "fragment"):
        raise InputError(f"part={part!r} is not a part of this page", hint="give part=fragment")
    find_release(Snapshot(source.git, source.head), plugin, version)
    recent = list(islice(source.git.first_parent_walk(source.head), TIMELINE_COMMITS + 1))
    since = None
    if len(recent) > TIMELINE_COMMITS:  # older entries are one link away: /audit?plugin=
        since = datetime.fromtimestamp(recent[TIMELINE_COMMITS - 1].commit_time, UTC)
    found = trail(source, AuditQuery(plugin=plugin, since=since))
    entries = [entry_data(entry) for entry in islice(found, TIMELINE_ENTRIES + 1)]
    return {
        "view": "history",
        "plugin": plugin,
        "version": version,
        "part": part,
        "release": release_url(plugin, version),
        "entries": entries[:TIMELINE_ENTRIES],
        "since": since.isoformat() if since else None,
        "more": len(entries) > TIMELINE_ENTRIES or since is not None,
        "audit": "/audit?" + urlencode({"plugin": plugin}),
    }


def versions_data(source: Source, params: Params) -> Data:
    """The released versions of a plugin, newest first, each linked to its page."""
    plugin = params.text("plugin") or ""
    snapshot = Snapshot(source.git, source.head)
    try:
        require_plugin(snapshot, plugin)
    except InputError as error:
        raise not_found(error) from None
    versions = [str(v) for v in snapshot.versions(plugin)]
    return {
        "view": "versions",
        "part": None,
        "plugin": plugin,
        "versions": [{"version": v, "url": release_url(plugin, v)} for v in versions],
        "audit": "/audit?" + urlencode({"plugin": plugin}),
    }


VIEWS = [
    View("release-versions", "/release/{plugin}", versions_data, "release.html", "Releases", False),
    View("release", "/release/{plugin}/{version}", release_data, "release.html", "Release", False),
    View(
        "release-history",
        "/release/{plugin}/{version}/history",
        history_data,
        "release.html",
        "Promotion history",
        False,
    ),
]
