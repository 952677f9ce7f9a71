"""`python -m pipelines KEY` runs a stage; `python -m pipelines dvc-yaml` and `python -m pipelines new` are tools."""
import sys

from pipelines.shared.run import main as run_main  # first: the runner notes the process start for start-up times


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["dvc-yaml"]:
        from pipelines.shared.dvc_yaml import main as dvc_yaml_main

        return dvc_yaml_main(argv[1:])
    if argv[:1] == ["new"]:
        from pipelines.shared.scaffold import main as new_main

        return new_main(argv[1:])
    return run_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
