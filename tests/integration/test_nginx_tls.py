"""The live nginx matches Mozilla's "intermediate" TLS profile: TLS 1.2/1.3 only, its ciphers and
curves, HSTS and the security headers; HTTP redirects to HTTPS; a config nginx rejects never goes live."""
import socket
import ssl
import urllib.error
import urllib.request

import pytest

MOZILLA_INTERMEDIATE_TLS12 = {
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    "DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384", "DHE-RSA-CHACHA20-POLY1305"}
SITE = "/opt/clinical-bdd-creator/nginx/conf.d/cbdd.conf"


def client(version=None, ciphers=None, curve=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    # Let the client offer old protocols/ciphers: a refusal must come from the server.
    ctx.set_ciphers((ciphers or "ALL") + ":@SECLEVEL=0")
    if version:
        ctx.minimum_version = ctx.maximum_version = version
    if curve:
        ctx.set_ecdh_curve(curve)
    return ctx


def handshake(sandbox, ctx):
    with socket.create_connection(("127.0.0.1", 8443 + sandbox.offset), timeout=5) as sock:
        with ctx.wrap_socket(sock, server_hostname="clinical-bdd.local") as tls:
            return tls.version(), tls.cipher()[0]


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_old_protocols_refused_by_the_server(sandbox, version):
    with pytest.raises(ssl.SSLError) as err:
        handshake(sandbox, client(version))
    # the server's alert, not a client-side refusal to offer the protocol
    assert "ALERT_PROTOCOL_VERSION" in str(err.value).upper() or "UNSUPPORTED_PROTOCOL" in str(err.value).upper()
    assert "NO_PROTOCOLS_AVAILABLE" not in str(err.value).upper()


def test_tls12_accepted_with_a_mozilla_intermediate_cipher(sandbox):
    version, cipher = handshake(sandbox, client(ssl.TLSVersion.TLSv1_2))
    assert version == "TLSv1.2"
    assert cipher in MOZILLA_INTERMEDIATE_TLS12


def test_tls13_accepted(sandbox):
    version, _ = handshake(sandbox, client(ssl.TLSVersion.TLSv1_3))
    assert version == "TLSv1.3"


@pytest.mark.parametrize("cipher", ["AES128-SHA", "ECDHE-RSA-AES128-SHA", "AES256-GCM-SHA384", "ECDHE-RSA-AES256-SHA384"])
def test_ciphers_outside_the_profile_refused(sandbox, cipher):
    with pytest.raises(ssl.SSLError):
        handshake(sandbox, client(ssl.TLSVersion.TLSv1_2, ciphers=cipher))


def test_every_profile_cipher_offered_alone_is_accepted(sandbox):
    accepted = set()
    for cipher in MOZILLA_INTERMEDIATE_TLS12:
        if "ECDSA" in cipher:
            continue  # the certificate is RSA
        accepted.add(handshake(sandbox, client(ssl.TLSVersion.TLSv1_2, ciphers=cipher))[1])
    assert accepted == {c for c in MOZILLA_INTERMEDIATE_TLS12 if "ECDSA" not in c}


@pytest.mark.parametrize("curve,ok", [("prime256v1", True), ("secp384r1", True), ("secp521r1", False)])
def test_curves_of_the_profile_only(sandbox, curve, ok):
    ctx = client(ssl.TLSVersion.TLSv1_2, ciphers="ECDHE-RSA-AES128-GCM-SHA256", curve=curve)
    if ok:
        assert handshake(sandbox, ctx)[1] == "ECDHE-RSA-AES128-GCM-SHA256"
    else:
        with pytest.raises(ssl.SSLError):
            handshake(sandbox, ctx)


def test_hsts_and_security_headers(sandbox):
    ctx = client()
    with urllib.request.urlopen(sandbox.https_url + "/health", context=ctx, timeout=10) as resp:
        assert resp.status == 200
        headers = resp.headers
    assert headers["Strict-Transport-Security"] == "max-age=63072000"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "nginx/" not in headers.get("Server", "")


def test_http_redirects_to_https_on_the_published_port(sandbox):
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None
    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as err:
        opener.open(sandbox.http_url + "/health?x=1", timeout=10)
    assert err.value.code == 301
    assert err.value.headers["Location"] == "https://127.0.0.1:%d/health?x=1" % (8443 + sandbox.offset)


def test_config_rejected_by_nginx_never_goes_live(run_playbook, sandbox, tmp_path):
    from test_rollout import bench  # the app play alone
    before = sandbox.exec("sha256sum", SITE).stdout
    started = sandbox.exec("docker", "inspect", "-f", "{{.State.StartedAt}}", "cbdd-nginx").stdout
    # A well-formed OpenSSL name that names no cipher: the inputs' checks accept it, only nginx -t
    # (OpenSSL) can tell - the case the candidate folder exists for.
    run = run_playbook(str(bench.app_play_file(tmp_path)), {"nginx_ssl_ciphers": ["NO-SUCH-CIPHER"]})
    assert run.rc != 0
    assert "nginx -t rejected the new cbdd.conf" in run.stdout, run.stdout[-3000:]
    assert sandbox.exec("sha256sum", SITE).stdout == before
    assert sandbox.exec("docker", "inspect", "-f", "{{.State.StartedAt}}", "cbdd-nginx").stdout == started
    with urllib.request.urlopen(sandbox.https_url + "/health", context=client(), timeout=10) as resp:
        assert resp.status == 200
