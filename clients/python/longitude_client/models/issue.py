from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="Issue")



@_attrs_define
class Issue:
    """ One issue of an `OperationOutcome`.

        Attributes:
            severity (str): `error`.
            code (str): The FHIR issue type.
            diagnostics (str): What went wrong, in words.
            expression (list[str] | None | Unset): Where in the request.
     """

    severity: str
    code: str
    diagnostics: str
    expression: list[str] | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)





    def to_dict(self) -> dict[str, Any]:
        severity = self.severity

        code = self.code

        diagnostics = self.diagnostics

        expression: list[str] | None | Unset
        if isinstance(self.expression, Unset):
            expression = UNSET
        elif isinstance(self.expression, list):
            expression = self.expression


        else:
            expression = self.expression


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "severity": severity,
            "code": code,
            "diagnostics": diagnostics,
        })
        if expression is not UNSET:
            field_dict["expression"] = expression

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        severity = d.pop("severity")

        code = d.pop("code")

        diagnostics = d.pop("diagnostics")

        def _parse_expression(data: object) -> list[str] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                expression_type_0 = cast(list[str], data)

                return expression_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[str] | None | Unset, data)

        expression = _parse_expression(d.pop("expression", UNSET))


        issue = cls(
            severity=severity,
            code=code,
            diagnostics=diagnostics,
            expression=expression,
        )


        issue.additional_properties = d
        return issue

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
