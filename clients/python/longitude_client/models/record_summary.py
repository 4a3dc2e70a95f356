from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
  from ..models.record_summary_skipped import RecordSummarySkipped





T = TypeVar("T", bound="RecordSummary")



@_attrs_define
class RecordSummary:
    """ What became of the record's resources.

        Attributes:
            read (int): Resources read.
            converted (int): Converted to events.
            skipped (RecordSummarySkipped): Skipped (a status or type the model does not read), with the reasons and counts.
            quarantined (int): Refused as malformed.
            withheld (int): Withheld: conflicting copies, codes that carry an identifier, resources of no patient.
            duplicates (int): Exact copies of a resource already read.
     """

    read: int
    converted: int
    skipped: RecordSummarySkipped
    quarantined: int
    withheld: int
    duplicates: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.record_summary_skipped import RecordSummarySkipped # noqa: PLC0415
        read = self.read

        converted = self.converted

        skipped = self.skipped.to_dict()

        quarantined = self.quarantined

        withheld = self.withheld

        duplicates = self.duplicates


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "read": read,
            "converted": converted,
            "skipped": skipped,
            "quarantined": quarantined,
            "withheld": withheld,
            "duplicates": duplicates,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.record_summary_skipped import RecordSummarySkipped # noqa: PLC0415
        d = dict(src_dict)
        read = d.pop("read")

        converted = d.pop("converted")

        skipped = RecordSummarySkipped.from_dict(d.pop("skipped"))




        quarantined = d.pop("quarantined")

        withheld = d.pop("withheld")

        duplicates = d.pop("duplicates")

        record_summary = cls(
            read=read,
            converted=converted,
            skipped=skipped,
            quarantined=quarantined,
            withheld=withheld,
            duplicates=duplicates,
        )


        record_summary.additional_properties = d
        return record_summary

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
