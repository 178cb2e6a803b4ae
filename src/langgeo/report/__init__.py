"""What people read and share: figures, the explorer page (its HTML, JS and CSS in ``assets/``),
the exported vectors and the text summary."""
