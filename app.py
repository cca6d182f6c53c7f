"""VACE Studio: python app.py [--share] [--auth user:password] [--host H] [--port P] [--mcp] [--gpus N]

Serves on 127.0.0.1:7860 by default (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT are honoured). Runs unchanged as a
Hugging Face Space. Makes no outside calls at start-up. --mcp (or Gradio's GRADIO_MCP_SERVER=True) also serves
the five capability endpoints as MCP tools at /gradio_api/mcp/ (Gradio's mcp_server=True; needs the `mcp` package).
--gpus N (or VACE_PARALLEL=ulysses:N|ring:N) splits each job across N GPUs: app.py starts itself again under
torch's launcher (torch.distributed.run) as N processes; rank 0 serves the app, ranks 1..N-1 follow its jobs
(vace_ui/backends/parallel_worker.py). `torchrun --nproc-per-node N app.py` works too.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="VACE Studio")
    parser.add_argument("--share", action="store_true", help="create a public share link")
    parser.add_argument("--auth", help="require a login: user:password, or alice:pw1,bob:pw2 for several users")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--mcp", action="store_true",
                        help="also serve the capability endpoints as MCP tools at /gradio_api/mcp/")
    parser.add_argument("--gpus", type=int, default=0,
                        help="split each job across N GPUs (N processes under torchrun; VACE_PARALLEL picks ring or "
                             "ulysses, default ulysses)")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    from vace_ui.config import AppConfig, log_level

    logging.basicConfig(level=log_level(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    auth = parse_auth(args.auth)
    try:
        config = AppConfig.from_env(share=args.share, auth=bool(auth), host=args.host, gpus=args.gpus)
    except ValueError as error:
        raise SystemExit(str(error)) from None
    if config.parallel and config.world_size == 1:  # start N processes under torch's launcher, this one included
        from vace_ui.parallel import torchrun_command

        rest = without_gpus(sys.argv[1:] if argv is None else list(argv))
        command = torchrun_command(str(Path(__file__).resolve()), rest, int(config.parallel.split(":")[1]),
                                   config.parallel_restarts)
        logging.getLogger("app").info("starting %s", " ".join(command))
        os.execve(command[0], command, {**os.environ, "VACE_PARALLEL": config.parallel})
    if config.rank > 0:  # ranks 1..N-1: follow rank 0's jobs, serve nothing
        from vace_ui.backends.parallel_worker import serve

        serve(config)
        return
    from vace_ui.services import create_services
    from vace_ui.ui.app import build_app, launch_options

    services = create_services(config)
    if config.parallel:
        services.local.exit_on_sigterm()
    services.runner.recover_after_restart()
    demo = build_app(services)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, auth=auth,
                mcp_server=True if args.mcp else None, **launch_options(services))


def without_gpus(argv: list[str]) -> list[str]:
    """The command line minus `--gpus N` / `--gpus=N` (the processes torchrun starts are the N GPUs)."""
    rest, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--gpus":
            skip = True
        elif not arg.startswith("--gpus="):
            rest.append(arg)
    return rest


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
