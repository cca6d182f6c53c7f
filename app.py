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
    parser.add_argument("--auth", help="require a login, as user:password")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--mcp", action="store_true",
                        help="also serve the capability endpoints as MCP tools at /gradio_api/mcp/")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    logging.basicConfig(level=os.environ.get("VACE_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    from vace_ui.config import AppConfig
    from vace_ui.services import create_services
    from vace_ui.ui.app import build_app, launch_options

    services = create_services(AppConfig.from_env())
    services.runner.recover_after_restart()
    demo = build_app(services)
    auth = tuple(args.auth.split(":", 1)) if args.auth else None
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, auth=auth,
                allowed_paths=[str(services.config.output_dir)], mcp_server=True if args.mcp else None,
                **launch_options())


if __name__ == "__main__":
    main()
