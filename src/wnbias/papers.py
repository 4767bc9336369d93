"""The five papers wnbias reproduces, cited in full: reports and the README name them so, since
the project's paper notes are not part of the repository."""

PAPERS = {
    "morwani": ('Morwani & Ramaswamy, "Inductive Bias of Gradient Descent for Weight Normalized '
                'Smooth Homogeneous Neural Nets", ALT 2022 (arXiv 2010.12909); code: '
                "github.com/DepenM/Exp-WN"),
    "chou": ('Chou, Rauhut & Ward, "Robust Implicit Regularization via Weight Normalization", '
             "Information and Inference 13(3), 2024 (arXiv 2305.05448)"),
    "cisneros": ('Cisneros-Velarde, Chen, Koyejo & Banerjee, "Optimization and Generalization '
                 'Guarantees for Weight Normalization", TMLR 2025 (arXiv 2409.08935); the runs '
                 "as in the co-author's code github.com/lucmonl/mlopt"),
    "min": ('Min, Tarmoun, Vidal & Mallada, "Convergence and Implicit Bias of Gradient Flow on '
            'Overparametrized Linear Networks" (arXiv 2105.06351)'),
    "wu": ('Wu, Dobriban, Ren, Wu, Li, Gunasekar, Ward & Liu, "Implicit Regularization and '
           'Convergence for Weight Normalization", NeurIPS 2020 (arXiv 1911.07956)'),
}


def cite(key: str, part: str = "") -> str:
    """The full citation of paper ``key``, with the part of it an experiment reproduces."""
    return PAPERS[key] + (f"; {part}" if part else "")
