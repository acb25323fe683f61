"""Issue 13: requests an attacker's page or a prober sends to the demo, the plugin's pages and the
sandbox's side channel: refused cleanly (4xx, one sentence), never a 500, never framed."""

from __future__ import annotations

import base64

import pytest
import requests
from werkzeug.test import Client

from fic_demo.app import make_app
from fic_demo.shop import DemoShop
from fic_plugin import hookimpl
from fic_plugin.manager import get_plugin_manager
from fic_plugin.plugin import CORE_NAME
from fic_plugin.settings import update_settings
from fic_plugin.web.app import make_wsgi_app
from shoptest import SANDBOX_PAYMENT_MAPPING, SANDBOX_VAT_MAPPING

LOCAL = {"REMOTE_ADDR": "127.0.0.1"}


class Admin:
    @hookimpl(tryfirst=True)
    def shop_is_admin(self, environ):
        return True


@pytest.fixture
def demo(tmp_path, monkeypatch):
    monkeypatch.delenv("FIC_DEMO_PUBLIC_URL", raising=False)
    monkeypatch.delenv("FIC_DEMO_PASSWORD", raising=False)
    shop = DemoShop(tmp_path / "shop.db", seed=True)
    pm = get_plugin_manager([shop], load_entrypoints=False)
    return pm, shop


def client(app) -> Client:
    return Client(lambda environ, start: app({**environ, **LOCAL}, start))


def test_a_rebinding_host_name_gets_no_page_and_no_csrf_token(demo):
    web = client(make_app(*demo))
    for path in ("/orders/1", "/fic/settings"):
        refused = web.get(path, headers={"Host": "rebind.evil.example:18000"})
        assert refused.status_code == 421 and "csrf" not in refused.get_data(as_text=True)
    assert web.post("/fic/settings/verify", headers={"Host": "rebind.evil.example:18000"}).status_code == 421
    for host in ("127.0.0.1:8000", "localhost:8000", "[::1]:8000"):
        assert web.get("/orders/1", headers={"Host": host}).status_code == 200


def test_no_page_of_the_demo_or_of_the_plugin_can_be_framed(demo):
    web = client(make_app(*demo))
    for path in ("/orders/1", "/orders", "/fic/settings", "/nowhere"):
        headers = web.get(path).headers
        assert headers["X-Frame-Options"] == "DENY", path
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], path
    pm, _shop = demo
    plugin = Client(make_wsgi_app(pm.get_plugin(CORE_NAME).context))
    assert plugin.get("/settings").headers["X-Frame-Options"] == "DENY"


def test_published_behind_a_proxy_the_demo_asks_for_its_password(demo, monkeypatch):
    pm, shop = demo
    app = make_app(pm, shop, public_url="https://bottega.example.it")
    web = client(app)
    assert web.get("/orders/1", headers={"Host": "bottega.example.it"}).status_code == 503  # no password set
    monkeypatch.setenv("FIC_DEMO_PASSWORD", "cavolfiore-42")
    web = client(make_app(pm, shop, public_url="https://bottega.example.it"))
    asked = web.get("/orders/1", headers={"Host": "bottega.example.it"})
    assert asked.status_code == 401 and asked.headers["WWW-Authenticate"].startswith("Basic")
    assert web.get("/orders/1", headers={"Host": "127.0.0.1:8000"}).status_code == 401  # the proxy's own Host too
    good = "Basic " + base64.b64encode(b"owner:cavolfiore-42").decode()
    wrong = "Basic " + base64.b64encode(b"owner:patata").decode()
    assert web.get("/orders/1", headers={"Host": "bottega.example.it", "Authorization": wrong}).status_code == 401
    assert web.get("/orders/1", headers={"Host": "bottega.example.it", "Authorization": good}).status_code == 200


def test_a_100000_deep_json_array_is_a_400_not_a_500(demo, sandbox):
    web = client(make_app(*demo))
    deep = "[" * 100_000 + "]" * 100_000
    answer = web.post("/api/orders", data=deep, content_type="application/json")
    assert answer.status_code == 400 and "JSON" in answer.get_json()["error"]
    fic = requests.post(sandbox.url + "/c/1/issued_documents", data=deep, timeout=30,
                        headers={"Content-Type": "application/json", "Authorization": "Bearer a/x"})
    assert fic.status_code in (400, 422)


def test_a_null_byte_in_a_static_path_is_a_404(fic):
    web = Client(make_wsgi_app(fic))
    assert web.get("/static/panel.css%00.js").status_code == 404
    assert web.get("/static/panel.css").status_code == 200


def test_the_sandbox_side_channel_refuses_other_sites_and_non_json_bodies(sandbox):
    faults = sandbox.url + "/__sandbox__/faults"
    plain = requests.post(faults, data='{"error_rate": 1}', headers={"Content-Type": "text/plain"}, timeout=10)
    assert plain.status_code == 415
    foreign = requests.post(sandbox.url + "/__sandbox__/reset", headers={"Origin": "https://evil.example"}, timeout=10)
    assert foreign.status_code == 403
    assert requests.get(faults, timeout=10).json()["error_rate"] == 0  # nothing changed
    same = requests.post(faults, json={"latency_ms": 0}, headers={"Origin": sandbox.url}, timeout=10)
    assert same.status_code == 200
    requests.delete(faults, timeout=10)


def test_a_settings_post_with_one_field_leaves_the_mappings_alone(fic, shop):
    from fic_plugin.web import csrf

    update_settings(fic.store, {"vat_mapping": SANDBOX_VAT_MAPPING, "payment_mapping": SANDBOX_PAYMENT_MAPPING})
    fic.pm.register(Admin())
    web = Client(make_wsgi_app(fic))
    page = web.get("/settings").get_data(as_text=True)
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    assert csrf.check(fic.store, token, nonce=web.get_cookie(csrf.COOKIE).value, order_id=None)
    answer = web.post("/settings", data={"csrf_token": token, "shop_name": "Bottega Nuova"})
    assert answer.status_code == 303
    settings = fic.settings
    assert settings.shop_name == "Bottega Nuova"
    assert settings.vat_mapping and settings.payment_mapping


def _panel_token(page: str) -> str:
    return page.split('class="fic-panel"', 1)[1].split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def test_a_panel_token_issued_to_one_browser_is_refused_in_another(demo):
    """Real HTTP on the demo: the panel drawn for browser A carries A's binding; browser B (another
    fic_csrf cookie), or a request with no cookie at all, cannot use it."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, make_app(*demo), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        first, second = requests.Session(), requests.Session()
        token = _panel_token(first.get(f"{url}/orders/1", timeout=30).text)
        assert token.startswith("p.")  # bound to the order and to this browser
        other = _panel_token(second.get(f"{url}/orders/1", timeout=30).text)
        assert first.cookies["fic_csrf"] != second.cookies["fic_csrf"]
        cancel = f"{url}/fic/orders/1/schedule/cancel"
        stolen = second.post(cancel, data={"csrf_token": token}, allow_redirects=False, timeout=30)
        assert stolen.status_code == 403 and "Traceback" not in stolen.text
        bare = requests.post(cancel, data={"csrf_token": token}, allow_redirects=False, timeout=30)
        assert bare.status_code == 403
        elsewhere = first.post(f"{url}/fic/orders/2/schedule/cancel", data={"csrf_token": token},
                               allow_redirects=False, timeout=30)
        assert elsewhere.status_code == 403  # and still bound to its order
        for session, own in ((first, token), (second, other)):
            answer = session.post(cancel, data={"csrf_token": own}, allow_redirects=False, timeout=30)
            assert answer.status_code == 303
    finally:
        server.shutdown()
        server.server_close()


def test_a_panel_drawn_without_a_browser_keeps_order_bound_tokens(demo):
    """Hosts that draw the panel through the hook alone (no request) still get working forms."""
    pm, _shop = demo
    pm.register(Admin())
    context = pm.get_plugin(CORE_NAME).context
    page = pm.hook.order_panel_render(order=context.order("1"))
    token = _panel_token(page)
    assert token.startswith("o.")
    plugin = Client(make_wsgi_app(context))
    answer = plugin.post("/orders/1/schedule/cancel", data={"csrf_token": token})
    assert answer.status_code == 303
    assert plugin.post("/orders/2/schedule/cancel", data={"csrf_token": token}).status_code == 403


def test_fic_app_panel_binds_its_forms_to_the_requests_browser(demo):
    from fic_plugin import setup
    from fic_plugin.web import csrf

    app = setup(demo[1], load_entrypoints=False)
    order = app.context.order("1")
    for request in ({"HTTP_COOKIE": "theme=dark; fic_csrf=browser-a"},
                    type("DjangoLike", (), {"COOKIES": {"fic_csrf": "browser-a"}})()):
        token = _panel_token(app.panel(order, request=request))
        assert csrf.check(app.context.store, token, nonce="browser-a", order_id="1")
        assert not csrf.check(app.context.store, token, nonce="browser-b", order_id="1")
        assert not csrf.check(app.context.store, token, nonce=None, order_id="1")
    # No cookie yet (or no request): bound to the order alone, as before.
    assert _panel_token(app.panel(order, request={})).startswith("o.")
    assert _panel_token(app.panel(order)).startswith("o.")


def test_moving_the_fic_address_from_the_settings_screen_sends_the_token_nowhere(fic):
    """The reproduction: POST /fic/settings with only fic_api_url pointing at a listener, then
    "Verifica connessione": the listener must not receive the stored token."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from shoptest import TEST_TOKEN

    heard: list[str] = []

    class Listener(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            heard.append(self.headers.get("Authorization") or "")
            self.send_response(401)
            self.end_headers()

        def log_message(self, *args):
            pass

    listener = HTTPServer(("127.0.0.1", 0), Listener)
    threading.Thread(target=listener.serve_forever, daemon=True).start()
    try:
        fic.pm.register(Admin())
        web = Client(make_wsgi_app(fic))
        page = web.get("/settings").get_data(as_text=True)
        token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        moved = web.post("/settings", data={"csrf_token": token,
                                            "fic_api_url": f"http://127.0.0.1:{listener.server_port}"})
        assert moved.status_code in (200, 303)
        web.post("/settings/verify", data={"csrf_token": token})
        assert not any(TEST_TOKEN in header for header in heard)
        assert fic.store.get_secret("fic_access_token") is None
    finally:
        listener.shutdown()
        listener.server_close()
