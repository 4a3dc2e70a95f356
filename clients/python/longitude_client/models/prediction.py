from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.basis_item import BasisItem
  from ..models.operating_point import OperatingPoint





T = TypeVar("T", bound="Prediction")



@_attrs_define
class Prediction:
    """ One task's risk for one patient.

        Attributes:
            patient (str): The patient, as the request referred to them (`Patient/<id>`).
            task (str): The task.
            description (str): What it predicts.
            probability (float): The probability of the outcome, a fraction from 0 to 1, calibrated as validated.
            band (str): `low` (below the task's prevalence), `moderate`, or `high` (at or above the validated
                operating point).
            as_of (str): As of when (RFC 3339): the latest dated event of the record.
            time_frame (str): `record` when `as_of` is in the record's own time; `model` when the de-identification
                cuts dates to the year and it is in the model's.
            events (int): Events of the record read.
            horizon (None | str | Unset): The end of the period the risk is for, where the task defines one.
            operating_point (None | OperatingPoint | Unset):
            basis (list[BasisItem] | None | Unset): What moved the risk most, largest first (for the models on count
                features; absent for
                those on the foundation model's embedding).
     """

    patient: str
    task: str
    description: str
    probability: float
    band: str
    as_of: str
    time_frame: str
    events: int
    horizon: None | str | Unset = UNSET
    operating_point: None | OperatingPoint | Unset = UNSET
    basis: list[BasisItem] | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.basis_item import BasisItem # noqa: PLC0415
        from ..models.operating_point import OperatingPoint # noqa: PLC0415
        patient = self.patient

        task = self.task

        description = self.description

        probability = self.probability

        band = self.band

        as_of = self.as_of

        time_frame = self.time_frame

        events = self.events

        horizon: None | str | Unset
        if isinstance(self.horizon, Unset):
            horizon = UNSET
        else:
            horizon = self.horizon

        operating_point: dict[str, Any] | None | Unset
        if isinstance(self.operating_point, Unset):
            operating_point = UNSET
        elif isinstance(self.operating_point, OperatingPoint):
            operating_point = self.operating_point.to_dict()
        else:
            operating_point = self.operating_point

        basis: list[dict[str, Any]] | None | Unset
        if isinstance(self.basis, Unset):
            basis = UNSET
        elif isinstance(self.basis, list):
            basis = []
            for basis_type_0_item_data in self.basis:
                basis_type_0_item = basis_type_0_item_data.to_dict()
                basis.append(basis_type_0_item)


        else:
            basis = self.basis


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "patient": patient,
            "task": task,
            "description": description,
            "probability": probability,
            "band": band,
            "as_of": as_of,
            "time_frame": time_frame,
            "events": events,
        })
        if horizon is not UNSET:
            field_dict["horizon"] = horizon
        if operating_point is not UNSET:
            field_dict["operating_point"] = operating_point
        if basis is not UNSET:
            field_dict["basis"] = basis

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.basis_item import BasisItem # noqa: PLC0415
        from ..models.operating_point import OperatingPoint # noqa: PLC0415
        d = dict(src_dict)
        patient = d.pop("patient")

        task = d.pop("task")

        description = d.pop("description")

        probability = d.pop("probability")

        band = d.pop("band")

        as_of = d.pop("as_of")

        time_frame = d.pop("time_frame")

        events = d.pop("events")

        def _parse_horizon(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        horizon = _parse_horizon(d.pop("horizon", UNSET))


        def _parse_operating_point(data: object) -> None | OperatingPoint | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                operating_point_type_0 = OperatingPoint.from_dict(data)



                return operating_point_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | OperatingPoint | Unset, data)

        operating_point = _parse_operating_point(d.pop("operating_point", UNSET))


        def _parse_basis(data: object) -> list[BasisItem] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                basis_type_0 = []
                _basis_type_0 = data
                for basis_type_0_item_data in (_basis_type_0):
                    basis_type_0_item = BasisItem.from_dict(basis_type_0_item_data)



                    basis_type_0.append(basis_type_0_item)

                return basis_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[BasisItem] | None | Unset, data)

        basis = _parse_basis(d.pop("basis", UNSET))


        prediction = cls(
            patient=patient,
            task=task,
            description=description,
            probability=probability,
            band=band,
            as_of=as_of,
            time_frame=time_frame,
            events=events,
            horizon=horizon,
            operating_point=operating_point,
            basis=basis,
        )


        prediction.additional_properties = d
        return prediction

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
