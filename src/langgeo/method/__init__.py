"""The paper's method (torch). Start at :mod:`langgeo.method.signature`: one call from a text to
its signature, through :mod:`~langgeo.method.hessians` (``H = XᵀX``),
:mod:`~langgeo.method.importance` (the SparseGPT score) and :mod:`~langgeo.method.binarize`
(the median); :mod:`~langgeo.method.anatomy` finds the layers in any causal LM and
:mod:`~langgeo.method.models` prepares and loads the models."""
