"""VACE Studio: python app.py [--share] [--auth user:password] [--host H] [--port P] [--mcp]

Serves on 127.0.0.1:7860 by default (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT are honoured). Runs unchanged as a
Hugging Face Space. Makes no outside calls at start-up. --mcp (or Gradio's GRADIO_MCP_SERVER=True) also serves
the five capability endpoints as MCP tools at /gradio_api/mcp/ (Gradio's mcp_server=True; needs the `mcp` package).
"""

from __future__ import annotations

import argparse
import logging
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="VACE Studio")
    parser.add_argument("--share", action="store_true", help="create a public share link")
    parser.add_argument("--auth", help="require a login: user:password, or alice:pw1,bob:pw2 for several users")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--mcp", action="store_true",
                        help="also serve the capability endpoints as MCP tools at /gradio_api/mcp/")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    from vace_ui.config import AppConfig, log_level

    logging.basicConfig(level=log_level(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    from vace_ui.services import create_services
    from vace_ui.ui.app import build_app, launch_options

    auth = parse_auth(args.auth)
    config = AppConfig.from_env(share=args.share, auth=bool(auth), host=args.host)
    services = create_services(config)
    services.runner.recover_after_restart()
    demo = build_app(services)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, auth=auth,
                mcp_server=True if args.mcp else None, **launch_options(services))


def parse_auth(text: str | None):
    """`user:password`, or several separated by commas (`alice:pw1,bob:pw2`) -> what gr.launch(auth=) takes."""
    if not text:
        return None
    pairs = [tuple(part.split(":", 1)) for part in text.split(",") if ":" in part]
    if not pairs:
        raise SystemExit("--auth expects user:password (several: alice:pw1,bob:pw2)")
    return pairs if len(pairs) > 1 else pairs[0]


if __name__ == "__main__":
    main()
