"""CLI subcommands, one module each. A module exposes ``register(subparsers)``, which adds its
subcommand with ``set_defaults(func=run)``; ``run(args) -> int`` returns the exit code."""

COMMAND_MODULES = (
    "service.commands.book_check",
    "service.commands.calibrate",
    "service.commands.demo",
    "service.commands.evaluate",
    "service.commands.evaluate_grid",
    "service.commands.export",
    "service.commands.feed_server",
    "service.commands.fidelity",
    "service.commands.journal",
    "service.commands.model_reference",
    "service.commands.operator",
    "service.commands.orders_cli",
    "service.commands.posture",
    "service.commands.run",
    "service.commands.scenario",
    "service.commands.shadow",
    "service.commands.signal",
    "service.commands.train",
    "service.commands.venue",
)
