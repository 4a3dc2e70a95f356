from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.predict_request_record import PredictRequestRecord





T = TypeVar("T", bound="PredictRequest")



@_attrs_define
class PredictRequest:
    """ A prediction request (`Content-Type: application/json`). A FHIR document sent as
    `application/fhir+json` is the record itself, with the tasks and model in the query.

        Attributes:
            record (PredictRequestRecord): The patient's record, FHIR R4: a Bundle, one resource, or an array of resources.
            tasks (list[str] | Unset): The tasks to score; every task the model answers when absent or empty.
            model (None | str | Unset): The model to ask, by name or version id (`name@version`): needed only where the site
                runs several.
     """

    record: PredictRequestRecord
    tasks: list[str] | Unset = UNSET
    model: None | str | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        from ..models.predict_request_record import PredictRequestRecord # noqa: PLC0415
        record = self.record.to_dict()

        tasks: list[str] | Unset = UNSET
        if not isinstance(self.tasks, Unset):
            tasks = self.tasks



        model: None | str | Unset
        if isinstance(self.model, Unset):
            model = UNSET
        else:
            model = self.model


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "record": record,
        })
        if tasks is not UNSET:
            field_dict["tasks"] = tasks
        if model is not UNSET:
            field_dict["model"] = model

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.predict_request_record import PredictRequestRecord # noqa: PLC0415
        d = dict(src_dict)
        record = PredictRequestRecord.from_dict(d.pop("record"))




        tasks = cast(list[str], d.pop("tasks", UNSET))


        def _parse_model(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        model = _parse_model(d.pop("model", UNSET))


        predict_request = cls(
            record=record,
            tasks=tasks,
            model=model,
        )

        return predict_request

