"""Credentials inside a configured URL are refused, and never echoed in any encoding: not
raw, not percent-encoded, not base64, not in a message, a hint or a repr."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from bundle_support import Site
from factories import API, yaml_text

from pipeline.canary.providers import PrometheusProvider
from pipeline.cli.powerx import cli
from pipeline.errors import InputError
from pipeline.forge.github import GitHubClient
from pipeline.models.load import parse_document
from pipeline.models.rollout import RolloutPolicy
from pipeline.notify import Notifier
from pipeline.store.https import HttpsArtifactSource
from pipeline.store.registry import store_for
from pipeline.urls import credential_problem, redact_url

SECRET = "p@ss:w/rd?t0k3n"
USER = "deploy-bot"


def _forms(secret: str) -> list[str]:
    """Every spelling of the secret that must never appear."""
    return [
        secret,
        quote(secret, safe=""),
        quote(secret),
        base64.b64encode(secret.encode()).decode(),
        base64.b64encode(f"{USER}:{secret}".encode()).decode(),
        "t0k3n",
    ]


def _clean(*texts: object) -> None:
    joined = " ".join(str(text) for text in texts)
    for form in _forms(SECRET):
        assert form not in joined, (form, joined)


USERINFO = f"https://{USER}:{quote(SECRET, safe='')}@example.com:8443/api"
QUERY = f"https://example.com/api?access_token={quote(SECRET, safe='')}&page=2"
SIGNED = f"https://example.com/a.pxp?X-Amz-Signature={quote(SECRET, safe='')}"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (USERINFO, "https://example.com:8443/api"),
        (QUERY, "https://example.com/api"),
        (SIGNED + "#frag", "https://example.com/a.pxp"),
        (f"http://{USER}:{SECRET}@[::1]:9090/p", "<invalid URL>"),
        (f"http://[::1]:9090/p?token={SECRET}", "http://[::1]:9090/p"),
        (f"https://host:{SECRET}/x", "<invalid URL>"),
        (f"https://host/x%40{quote(SECRET, safe='')}", "https://host/…"),
    ],
)
def test_redact_url_never_keeps_a_secret(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    _clean(redact_url(url), redact_url(url, keep_path=False))


def test_what_counts_as_credentials() -> None:
    assert credential_problem(USERINFO) == "it carries user info (user:password@)"
    assert credential_problem(QUERY) == "its query parameter 'access_token' looks like a credential"
    assert credential_problem(SIGNED, query_allowed=True) is None
    assert credential_problem("https://api.github.com/") is None
    assert credential_problem("http://prometheus:9090/prom?timeout=5s") is None


def _refused(make: Any) -> InputError:
    with pytest.raises(InputError) as caught:
        make()
    _clean(caught.value.diagnostics(), repr(caught.value), caught.value.args)
    assert "is refused" in caught.value.message
    return caught.value


@pytest.mark.parametrize("url", [USERINFO, QUERY])
def test_every_configured_base_url_refuses_credentials(url: str) -> None:
    _refused(lambda: GitHubClient("acme/plugins", "ghp_" + "a" * 36, api_url=url))
    _refused(lambda: HttpsArtifactSource(base_url=url))
    _refused(lambda: store_for(url))
    _refused(lambda: PrometheusProvider(url))


def test_webhooks_and_artifact_urls_refuse_user_info_and_hide_the_rest(tmp_path: Path) -> None:
    _refused(lambda: Notifier([USERINFO]))
    _refused(lambda: Notifier(slack_webhooks=[USERINFO]))
    notifier = Notifier([QUERY])  # a webhook's secret may be its query: kept, never shown
    _clean([target for _, target in notifier.targets if target != QUERY], repr(notifier.sent))
    source = HttpsArtifactSource(base_url="https://example.com/store")
    _refused(lambda: source.fetch(USERINFO, "a" * 64, 1, tmp_path / "x"))


def test_the_rollout_policy_refuses_a_prometheus_url_with_credentials() -> None:
    for url in (USERINFO, QUERY):
        text = yaml_text(
            {
                "apiVersion": API,
                "kind": "RolloutPolicy",
                "provider": {"type": "prometheus", "url": url},
            }
        )
        with pytest.raises(InputError) as caught:
            parse_document(text.encode(), "policies/rollout.yaml", RolloutPolicy)
        _clean(caught.value.diagnostics(), repr(caught.value))
        assert "provider.url" in caught.value.diagnostics()


def test_command_line_webhook_with_credentials_is_exit_2_without_echo(
    tmp_path: Path, run_cli: Any
) -> None:
    site = Site(tmp_path / "b")
    bundle = tmp_path / "some.bundle"
    bundle.write_bytes(b"not a bundle")
    result = run_cli(cli, *site.argv(bundle, "--alert-webhook", USERINFO))
    assert result.code == 2, result.out + result.err
    assert "the webhook https://example.com:8443/… is refused: it carries user info" in result.err
    _clean(result.out, result.err)
