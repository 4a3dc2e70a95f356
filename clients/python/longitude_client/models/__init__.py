""" Contains all the data models used in inputs/outputs """

from .audit_receipt import AuditReceipt
from .basis_item import BasisItem
from .embed_request import EmbedRequest
from .embed_request_record import EmbedRequestRecord
from .embed_response import EmbedResponse
from .health import Health
from .issue import Issue
from .model_detail import ModelDetail
from .model_detail_model_card_type_0 import ModelDetailModelCardType0
from .model_list import ModelList
from .model_ref import ModelRef
from .model_summary import ModelSummary
from .operating_point import OperatingPoint
from .outcome import Outcome
from .patient_embedding import PatientEmbedding
from .predict_json_body import PredictJsonBody
from .predict_request import PredictRequest
from .predict_request_record import PredictRequestRecord
from .predict_response import PredictResponse
from .prediction import Prediction
from .proof import Proof
from .readiness import Readiness
from .record_summary import RecordSummary
from .record_summary_skipped import RecordSummarySkipped
from .task_summary import TaskSummary
from .unscored_patient import UnscoredPatient

__all__ = (
    "AuditReceipt",
    "BasisItem",
    "EmbedRequest",
    "EmbedRequestRecord",
    "EmbedResponse",
    "Health",
    "Issue",
    "ModelDetail",
    "ModelDetailModelCardType0",
    "ModelList",
    "ModelRef",
    "ModelSummary",
    "OperatingPoint",
    "Outcome",
    "PatientEmbedding",
    "Prediction",
    "PredictJsonBody",
    "PredictRequest",
    "PredictRequestRecord",
    "PredictResponse",
    "Proof",
    "Readiness",
    "RecordSummary",
    "RecordSummarySkipped",
    "TaskSummary",
    "UnscoredPatient",
)
