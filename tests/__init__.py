"""The tests of langgeo, laid out as the package (tests/README.md). A package, so
that test modules of different folders may share a name."""
