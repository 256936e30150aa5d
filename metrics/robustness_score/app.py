from pathlib import Path

import evaluate
from evaluate.utils import launch_gradio_widget


# the script next to this file, so the Space runs its own copy whatever its owner is called
module = evaluate.load(str(Path(__file__).resolve().parent / "robustness_score.py"))
launch_gradio_widget(module)
