from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
  from ..models.audit_receipt import AuditReceipt
  from ..models.model_ref import ModelRef
  from ..models.prediction import Prediction
  from ..models.record_summary import RecordSummary
  from ..models.unscored_patient import UnscoredPatient





T = TypeVar("T", bound="PredictResponse")



@_attrs_define
class PredictResponse:
    """ The answer to `POST /v1/predict`.

        Attributes:
            model (ModelRef): The model version that answered.
            predictions (list[Prediction]): One per patient and task.
            unscored (list[UnscoredPatient]): Patients without a risk.
            record (RecordSummary): What became of the record's resources.
            audit (AuditReceipt): Where the call's audit record sits: ask `/v1/audit/proof` for its inclusion proof.
     """

    model: ModelRef
    predictions: list[Prediction]
    unscored: list[UnscoredPatient]
    record: RecordSummary
    audit: AuditReceipt
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.audit_receipt import AuditReceipt # noqa: PLC0415
        from ..models.model_ref import ModelRef # noqa: PLC0415
        from ..models.prediction import Prediction # noqa: PLC0415
        from ..models.record_summary import RecordSummary # noqa: PLC0415
        from ..models.unscored_patient import UnscoredPatient # noqa: PLC0415
        model = self.model.to_dict()

        predictions = []
        for predictions_item_data in self.predictions:
            predictions_item = predictions_item_data.to_dict()
            predictions.append(predictions_item)



        unscored = []
        for unscored_item_data in self.unscored:
            unscored_item = unscored_item_data.to_dict()
            unscored.append(unscored_item)



        record = self.record.to_dict()

        audit = self.audit.to_dict()


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "model": model,
            "predictions": predictions,
            "unscored": unscored,
            "record": record,
            "audit": audit,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.audit_receipt import AuditReceipt # noqa: PLC0415
        from ..models.model_ref import ModelRef # noqa: PLC0415
        from ..models.prediction import Prediction # noqa: PLC0415
        from ..models.record_summary import RecordSummary # noqa: PLC0415
        from ..models.unscored_patient import UnscoredPatient # noqa: PLC0415
        d = dict(src_dict)
        model = ModelRef.from_dict(d.pop("model"))




        predictions = []
        _predictions = d.pop("predictions")
        for predictions_item_data in (_predictions):
            predictions_item = Prediction.from_dict(predictions_item_data)



            predictions.append(predictions_item)


        unscored = []
        _unscored = d.pop("unscored")
        for unscored_item_data in (_unscored):
            unscored_item = UnscoredPatient.from_dict(unscored_item_data)



            unscored.append(unscored_item)


        record = RecordSummary.from_dict(d.pop("record"))




        audit = AuditReceipt.from_dict(d.pop("audit"))




        predict_response = cls(
            model=model,
            predictions=predictions,
            unscored=unscored,
            record=record,
            audit=audit,
        )


        predict_response.additional_properties = d
        return predict_response

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
