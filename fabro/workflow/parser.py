"""Recursive-descent parser for the DOT subset (workflow-language.md §3).

`parse_document` turns text into a syntax tree; `parse_graph` also builds the graph model (§4).
Every error is a `DotParseError` with line and column, in the message forms of the spec:
`expected <what>, found <token>`, `unexpected character 'x'`, `unterminated string`.
"""

from __future__ import annotations

from fabro.workflow.build import build_graph
from fabro.workflow.errors import DotParseError
from fabro.workflow.lexer import (
    ARROW,
    COMMA,
    EOF,
    EQUALS,
    ERROR,
    IDENT,
    KEY,
    LBRACE,
    LBRACKET,
    RBRACE,
    RBRACKET,
    SEMI,
    VALUE,
    Token,
    tokenize,
)
from fabro.workflow.model import Graph
from fabro.workflow.syntax import (
    Attrs,
    AttrStmt,
    Decl,
    Document,
    EdgeStmt,
    NodeStmt,
    Stmt,
    SubgraphStmt,
)
from fabro.workflow.value import Value

_ATTR_TARGETS = frozenset({"graph", "node", "edge"})
# Subgraphs nest by recursion; a limit keeps hostile input from exhausting the stack.
MAX_SUBGRAPH_DEPTH = 100


def parse_document(text: str) -> Document:
    """Parse DOT text into a syntax tree; raises DotParseError."""
    return _Parser(tokenize(text)).document()


def parse_graph(text: str, *, file: str | None = None) -> Graph:
    """Parse DOT text and build the graph model; the error names `file` when given."""
    try:
        document = parse_document(text)
    except DotParseError as exc:
        raise exc.with_file(file) from None
    return build_graph(document)


class _Parser:
    __slots__ = ("depth", "pos", "tokens")

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.depth = 0

    # --- helpers ---
    def _fail(self, expected: str, token: Token | None = None) -> DotParseError:
        token = token or self.tokens[self.pos]
        if token.kind == ERROR:  # a lexical error reached by the parser is reported as such
            return DotParseError(token.text, token.line, token.col)
        return DotParseError(
            f"expected {expected}, found {token.describe()}", token.line, token.col
        )

    def _expect(self, kind: str, expected: str) -> Token:
        token = self.tokens[self.pos]
        if token.kind != kind:
            raise self._fail(expected)
        self.pos += 1
        return token

    def _keyword(self, word: str) -> None:
        token = self.tokens[self.pos]
        if token.kind != IDENT or token.text != word:
            raise self._fail(f"'{word}'")
        self.pos += 1

    # --- grammar ---
    def document(self) -> Document:
        self._keyword("digraph")
        name = self._expect(IDENT, "graph name").text
        self._expect(LBRACE, "'{'")
        body = self._statements()
        self._expect(RBRACE, "'}'")
        token = self.tokens[self.pos]
        if token.kind != EOF:
            raise DotParseError("unexpected content after closing '}'", token.line, token.col)
        return Document(name, body)

    def _statements(self) -> list[Stmt]:
        body: list[Stmt] = []
        tokens = self.tokens
        while True:
            token = tokens[self.pos]
            if token.kind == RBRACE:
                return body
            if token.kind != IDENT:
                raise self._fail("statement or '}'")
            body.append(self._statement(token))
            if tokens[self.pos].kind == SEMI:
                self.pos += 1

    def _statement(self, token: Token) -> Stmt:
        after = self.tokens[self.pos + 1]
        word = token.text
        if after.kind == LBRACKET and word in _ATTR_TARGETS:
            self.pos += 1
            return AttrStmt(word, self._attr_list())
        if word == "subgraph" and (
            after.kind == LBRACE
            or (after.kind == IDENT and self.tokens[self.pos + 2].kind == LBRACE)
        ):
            return self._subgraph()
        if after.kind == EQUALS:
            self.pos += 2
            return Decl(word, self._value())
        if after.kind == ARROW:
            return self._edge_chain(token)
        self.pos += 1
        attrs = self._attr_list() if after.kind == LBRACKET else []
        return NodeStmt(word, attrs, token.line, token.col)

    def _subgraph(self) -> SubgraphStmt:
        token = self.tokens[self.pos]
        if self.depth >= MAX_SUBGRAPH_DEPTH:
            message = f"subgraphs nested more than {MAX_SUBGRAPH_DEPTH} deep"
            raise DotParseError(message, token.line, token.col)
        self.depth += 1
        self.pos += 1  # `subgraph`
        name = None
        if self.tokens[self.pos].kind == IDENT:
            name = self.tokens[self.pos].text
            self.pos += 1
        self.pos += 1  # `{`, checked by the caller's lookahead
        body = self._statements()
        self._expect(RBRACE, "'}'")
        self.depth -= 1
        return SubgraphStmt(name, body)

    def _edge_chain(self, first: Token) -> EdgeStmt:
        ends = [(first.text, first.line, first.col)]
        self.pos += 1
        tokens = self.tokens
        while tokens[self.pos].kind == ARROW:
            self.pos += 1
            token = self._expect(IDENT, "node id after '->'")
            ends.append((token.text, token.line, token.col))
        attrs = self._attr_list() if tokens[self.pos].kind == LBRACKET else []
        return EdgeStmt(ends, attrs)

    def _attr_list(self) -> Attrs:
        self.pos += 1  # `[`, checked by the caller
        attrs: Attrs = []
        tokens = self.tokens
        if tokens[self.pos].kind == RBRACKET:
            self.pos += 1
            return attrs
        while True:
            token = tokens[self.pos]
            if token.kind != IDENT and token.kind != KEY:
                raise self._fail("attribute name")
            if tokens[self.pos + 1].kind != EQUALS:
                raise self._fail(f"'=' after '{token.text}'", tokens[self.pos + 1])
            self.pos += 2
            attrs.append((token.text, self._value()))
            kind = tokens[self.pos].kind
            if kind == COMMA:
                self.pos += 1
            elif kind == RBRACKET:
                self.pos += 1
                return attrs
            else:
                raise self._fail("',' or ']'")

    def _value(self) -> Value:
        token = self.tokens[self.pos]
        if token.kind != VALUE:
            raise self._fail("value")
        self.pos += 1
        return Value(token.vkind, token.text, token.line, token.col)
