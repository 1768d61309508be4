"""The real LightGBM trainer (trainers/gbdt/train.py), paced: it sleeps after every boosting
round, after the round's checkpoint is written. The chaos suite uses it so that a fault lands
mid-training on a small data set. Usage: paced_gbdt.py --pace-ms N --input input.json"""
import runpy
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def main() -> None:
    args = sys.argv[1:]
    i = args.index("--pace-ms")
    pace = float(args[i + 1]) / 1000.0
    del args[i : i + 2]
    import lightgbm

    real_train = lightgbm.train

    def pace_round(env) -> None:  # noqa: ANN001
        time.sleep(pace)

    pace_round.order = 200  # after the trainer's own callbacks (checkpoints at order 100)

    def paced_train(*a, **kw):  # noqa: ANN002, ANN003
        kw["callbacks"] = [*(kw.get("callbacks") or []), pace_round]
        return real_train(*a, **kw)

    lightgbm.train = paced_train
    script = ROOT / "trainers" / "gbdt" / "train.py"
    sys.argv = [str(script), *args]
    runpy.run_path(str(script), run_name="__main__")


if __name__ == "__main__":
    main()
