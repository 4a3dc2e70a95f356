from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
  from ..models.issue import Issue





T = TypeVar("T", bound="Outcome")



@_attrs_define
class Outcome:
    """ A FHIR `OperationOutcome`: every error's body.

        Attributes:
            resource_type (str): Always `OperationOutcome`.
            issue (list[Issue]): What went wrong.
     """

    resource_type: str
    issue: list[Issue]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        from ..models.issue import Issue # noqa: PLC0415
        resource_type = self.resource_type

        issue = []
        for issue_item_data in self.issue:
            issue_item = issue_item_data.to_dict()
            issue.append(issue_item)




        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "resourceType": resource_type,
            "issue": issue,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.issue import Issue # noqa: PLC0415
        d = dict(src_dict)
        resource_type = d.pop("resourceType")

        issue = []
        _issue = d.pop("issue")
        for issue_item_data in (_issue):
            issue_item = Issue.from_dict(issue_item_data)



            issue.append(issue_item)


        outcome = cls(
            resource_type=resource_type,
            issue=issue,
        )


        outcome.additional_properties = d
        return outcome

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
