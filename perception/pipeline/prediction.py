"""The predictor's work for one camera, without ROS: the model loaded with its status, tracks in, paths out."""
from __future__ import annotations

from typing import Any

from perception.pipeline.health import ERROR, OK, Health, accept_stamp
from perception.pipeline.models import ModelCache
from perception.pipeline.stages import PredictionStage, StageOutput
from perception.prediction.constant_velocity import HORIZON_S as CONSTANT_VELOCITY_HORIZON_S
from perception.prediction.constant_velocity import ConstantVelocityPredictor  # no torch: it serves without one
from perception.types import Track


class CameraPrediction:
    """Trajectory prediction of one camera's tracks (PREDICTOR parameters); stamps checked and counted."""

    def __init__(self, parameters: dict[str, Any], health: Health | None = None, models: ModelCache | None = None
                 ) -> None:
        self.parameters = parameters
        self.health = health or Health()
        self.models = models or ModelCache()
        self.stage: PredictionStage | None = None

    def load(self) -> bool:
        """Load the model and run it once; False (status ERROR, with the reason) when it cannot be loaded. Then the
        stage predicts without a network (ConstantVelocityPredictor), for a node that must keep the planner fed; an
        evaluation stops on False instead."""
        p = self.parameters
        try:
            self.stage = PredictionStage.from_parameters(p, self.models)
            self.stage.warm_up()
        except Exception as error:  # a corrupt checkpoint raises UnpicklingError, EOFError, ...: say why
            reason = f"cannot load predictor model {p['model'] or '(bundled)'}: {type(error).__name__}: {error}"
            self.health.log(ERROR, f"predictor runs without its network (constant-velocity paths): {reason}")
            self.health.set_status(ERROR, f"no predictor network, constant-velocity paths: {reason}")
            predictor = ConstantVelocityPredictor(p["horizon_s"] or CONSTANT_VELOCITY_HORIZON_S, p["time_step_s"])
            self.stage = PredictionStage(predictor, p["history_s"], p["reset_after_backward_jump_s"])
            return False
        forward = self.stage.predictor.forward
        self.health.set_status(OK, f"running, network on {forward.runtime}"
                               + (f" ({forward.reason})" if forward.reason else ""))
        return True

    def predict(self, tracks: list[Track], stamp: float, ground_frame_id: str) -> StageOutput:
        """Paths for the tracks of one frame; an output whose verdict is in SKIPPED carries none (counted)."""
        last = self.stage.stamps.last
        output = self.stage.process(tracks, stamp, ground_frame_id)
        accept_stamp(self.health, output.verdict, stamp, last, "histories cleared")
        return output
