from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="OperatingPoint")



@_attrs_define
class OperatingPoint:
    """ The validated operating point of a task: flagging at this threshold gave these figures on
    held-out patients.

        Attributes:
            threshold (float | None | Unset): Risks at or above it are `high` (absent where none reached the audited
                specificity).
            sensitivity (float | None | Unset): Share of patients with the outcome it flagged.
            ppv (float | None | Unset): Share of those flagged who had the outcome.
            flag_rate (float | None | Unset): Share of patients flagged.
     """

    threshold: float | None | Unset = UNSET
    sensitivity: float | None | Unset = UNSET
    ppv: float | None | Unset = UNSET
    flag_rate: float | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        threshold: float | None | Unset
        if isinstance(self.threshold, Unset):
            threshold = UNSET
        else:
            threshold = self.threshold

        sensitivity: float | None | Unset
        if isinstance(self.sensitivity, Unset):
            sensitivity = UNSET
        else:
            sensitivity = self.sensitivity

        ppv: float | None | Unset
        if isinstance(self.ppv, Unset):
            ppv = UNSET
        else:
            ppv = self.ppv

        flag_rate: float | None | Unset
        if isinstance(self.flag_rate, Unset):
            flag_rate = UNSET
        else:
            flag_rate = self.flag_rate


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
        })
        if threshold is not UNSET:
            field_dict["threshold"] = threshold
        if sensitivity is not UNSET:
            field_dict["sensitivity"] = sensitivity
        if ppv is not UNSET:
            field_dict["ppv"] = ppv
        if flag_rate is not UNSET:
            field_dict["flag_rate"] = flag_rate

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        def _parse_threshold(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        threshold = _parse_threshold(d.pop("threshold", UNSET))


        def _parse_sensitivity(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        sensitivity = _parse_sensitivity(d.pop("sensitivity", UNSET))


        def _parse_ppv(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        ppv = _parse_ppv(d.pop("ppv", UNSET))


        def _parse_flag_rate(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        flag_rate = _parse_flag_rate(d.pop("flag_rate", UNSET))


        operating_point = cls(
            threshold=threshold,
            sensitivity=sensitivity,
            ppv=ppv,
            flag_rate=flag_rate,
        )


        operating_point.additional_properties = d
        return operating_point

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
