"""The SDK calls the function makes, as Protocols: boto3's clients and the tests' fakes fit them.

Requests list the keyword arguments we pass; replies list the keys we read, as read-only items
(ReadOnly lets boto3's richer, stricter-typed replies count as these), so a fake builds only
what the code looks at and neither side needs a `type: ignore`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, NotRequired, Protocol, Required, TypedDict, Unpack

if TYPE_CHECKING:
    # typing.ReadOnly arrives with Python 3.13; only the type checker reads it (annotations are
    # never evaluated at run time), so the package needs no typing_extensions.
    from typing_extensions import ReadOnly


class SqlParameter(TypedDict):
    name: str
    value: str


class _SubmitRequest(TypedDict, total=False):
    """What both submits take: the target, the name, the token, the parameters, the wait."""

    Database: str
    ClusterIdentifier: str
    WorkgroupName: str
    DbUser: str
    SecretArn: str
    StatementName: str
    ClientToken: str
    Parameters: Sequence[SqlParameter]
    WaitTimeSeconds: int


class ExecuteStatementRequest(_SubmitRequest, total=False):
    Sql: Required[str]


class ExecuteStatementReply(TypedDict):
    Id: ReadOnly[str]
    Status: NotRequired[ReadOnly[str]]  # only when the request carried WaitTimeSeconds


# Up to 40 SQL strings run in order as one transaction, sharing one parameter list.
class BatchExecuteStatementRequest(_SubmitRequest, total=False):
    Sqls: Required[Sequence[str]]
    ExecutionMode: Literal["TRANSACTION", "AUTO_COMMIT"]


class BatchExecuteStatementReply(TypedDict):
    Id: ReadOnly[str]
    Status: NotRequired[ReadOnly[str]]  # only when the request carried WaitTimeSeconds


class SubStatement(TypedDict):
    """One SQL of a batch as DescribeStatement reports it: Id is `<batch id>:<n>`, n from 1."""

    Id: ReadOnly[str]
    Status: NotRequired[ReadOnly[str]]
    Error: NotRequired[ReadOnly[str]]


class DescribeStatementReply(TypedDict):
    Status: ReadOnly[str]
    Error: NotRequired[ReadOnly[str]]
    SubStatements: NotRequired[ReadOnly[Sequence[SubStatement]]]  # batches only


class CancelStatementReply(TypedDict):
    Status: ReadOnly[bool]


# boto3 takes only these: a plain `str` here would not match its stricter signature.
StatementListStatus = Literal[
    "ABORTED", "ALL", "FAILED", "FINISHED", "PICKED", "STARTED", "SUBMITTED"
]


class ListStatementsRequest(TypedDict, total=False):
    StatementName: str
    Status: StatementListStatus
    MaxResults: int
    RoleLevel: bool
    NextToken: str


class ListedStatement(TypedDict):
    Id: ReadOnly[str]
    StatementName: NotRequired[ReadOnly[str]]
    Status: NotRequired[ReadOnly[str]]


class ListStatementsReply(TypedDict):
    Statements: ReadOnly[Sequence[ListedStatement]]
    NextToken: NotRequired[ReadOnly[str]]


class GetStatementResultRequest(TypedDict):
    Id: str
    NextToken: NotRequired[str]


class Field(TypedDict, total=False):
    isNull: ReadOnly[bool]
    booleanValue: ReadOnly[bool]
    longValue: ReadOnly[int]
    doubleValue: ReadOnly[float]
    stringValue: ReadOnly[str]


class StatementResultPage(TypedDict):
    Records: ReadOnly[Sequence[Sequence[Field]]]
    NextToken: NotRequired[ReadOnly[str]]


class DataApiClient(Protocol):
    """The redshift-data calls of the function (ingest.redshift makes them all)."""

    def execute_statement(
        self, **kwargs: Unpack[ExecuteStatementRequest]
    ) -> ExecuteStatementReply: ...

    def batch_execute_statement(
        self, **kwargs: Unpack[BatchExecuteStatementRequest]
    ) -> BatchExecuteStatementReply: ...

    def describe_statement(self, *, Id: str) -> DescribeStatementReply: ...

    def cancel_statement(self, *, Id: str) -> CancelStatementReply: ...

    def list_statements(self, **kwargs: Unpack[ListStatementsRequest]) -> ListStatementsReply: ...

    def get_statement_result(
        self, **kwargs: Unpack[GetStatementResultRequest]
    ) -> StatementResultPage: ...
