"""Run by vLLM's own interpreter (not hostbench's): parse `vllm serve` command lines with the
parser `vllm serve` itself builds, and print what vLLM made of them as JSON.

Reads {"argvs": [["serve", "org/model", "--flag", "value", ...], ...]} on stdin. Prints
{"version", "literals", "choices", "results"}: for each argv either {"ok": true, "args":
{dest: value}, "configs": {...}} or {"ok": false, "error": "..."} (argparse's message, or
the error of vLLM's own checks that run before a model loads).

The parser is built as `vllm`'s main does it (`vllm.entrypoints.cli.main`: a
FlexibleArgumentParser whose `serve` subcommand is `make_arg_parser`, i.e. the API server's
flags plus `AsyncEngineArgs.add_cli_args`). vLLM's pip wheel is a CUDA build; on a machine
without a GPU it cannot infer a device, so the CPU platform is selected first, exactly as
vLLM's main does for `vllm bench`: the flags, their types and choices do not depend on it.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from typing import Any


def _cpu_platform_if_no_device() -> None:
    from vllm import platforms

    if platforms.current_platform.is_unspecified():
        from vllm.platforms.cpu import CpuPlatform

        platforms.current_platform = CpuPlatform()


def _parser() -> tuple[Any, Any]:
    from vllm.entrypoints.cli.serve import ServeSubcommand
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    parser = FlexibleArgumentParser(prog="vllm")
    subparsers = parser.add_subparsers(required=False, dest="subparser")
    serve = ServeSubcommand()
    serve.subparser_init(subparsers)
    return parser, serve


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except TypeError:
        return str(value)
    return value


def _parse(parser: Any, serve: Any, argv: list[str]) -> dict[str, Any]:
    from vllm.engine.arg_utils import AsyncEngineArgs

    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            args = parser.parse_args(argv)
    except SystemExit:
        return {"ok": False, "error": err.getvalue().strip().splitlines()[-1]}
    if getattr(args, "model_tag", None) is not None:
        args.model = args.model_tag  # what ServeSubcommand.cmd does before serving
    try:
        serve.validate(args)
        configs = _configs(AsyncEngineArgs.from_cli_args(args))
    except Exception as error:
        return {"ok": False, "error": f"{type(error).__name__}: {error}"}
    values = {k: _jsonable(v) for k, v in vars(args).items() if not callable(v)}
    return {"ok": True, "args": values, "configs": configs}


def _configs(engine_args: Any) -> dict[str, Any]:
    """The parallel and cache configs vLLM builds from these arguments (their own
    validation runs: kv cache type, executor backend, Ray importable for `ray`); the model
    config is left out, as it reads the checkpoint's config from the Hub."""
    from vllm.config import CacheConfig, ParallelConfig

    parallel = ParallelConfig(
        tensor_parallel_size=engine_args.tensor_parallel_size,
        pipeline_parallel_size=engine_args.pipeline_parallel_size,
        data_parallel_size=engine_args.data_parallel_size,
        distributed_executor_backend=engine_args.distributed_executor_backend,
    )
    cache_values = {
        "cache_dtype": engine_args.kv_cache_dtype,
        "gpu_memory_utilization": engine_args.gpu_memory_utilization,
        "enable_prefix_caching": engine_args.enable_prefix_caching,
    }  # unset prefix caching is decided by vLLM from the model later: left out here
    cache = CacheConfig(**{k: v for k, v in cache_values.items() if v is not None})
    return {
        "world_size": parallel.world_size,
        "world_size_across_dp": parallel.world_size_across_dp,
        "distributed_executor_backend": _jsonable(parallel.distributed_executor_backend),
        "cache_dtype": cache.cache_dtype,
        "gpu_memory_utilization": cache.gpu_memory_utilization,
        "enable_prefix_caching": cache.enable_prefix_caching,
    }


def _choices(parser: Any) -> dict[str, list[Any]]:
    """Every serve flag's dest -> its choices (where argparse enforces some)."""
    serve_parser = parser._subparsers._group_actions[0].choices["serve"]
    return {
        action.dest: [_jsonable(c) for c in action.choices]
        for action in serve_parser._actions
        if action.choices is not None and not isinstance(action.choices, dict)
    }


def _literals() -> dict[str, list[str]]:
    """The values vLLM's config types accept for the options whose flags take any string."""
    from typing import get_args

    from vllm.config.cache import CacheDType
    from vllm.config.model import ModelDType
    from vllm.config.parallel import DistributedExecutorBackend
    from vllm.model_executor.layers.quantization import QUANTIZATION_METHODS

    return {
        "quantization": list(QUANTIZATION_METHODS),
        "kv_cache_dtype": list(get_args(CacheDType)),
        "dtype": list(get_args(ModelDType)),
        "distributed_executor_backend": list(get_args(DistributedExecutorBackend)),
    }


def main() -> None:
    from importlib.metadata import version

    request = json.load(sys.stdin)
    _cpu_platform_if_no_device()
    parser, serve = _parser()
    print(
        json.dumps(
            {
                "version": version("vllm"),
                "literals": _literals(),
                "choices": _choices(parser),
                "results": [_parse(parser, serve, argv) for argv in request["argvs"]],
            }
        )
    )


if __name__ == "__main__":
    main()
