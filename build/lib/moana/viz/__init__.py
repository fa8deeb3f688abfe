"""Tables, figures, the attention explorer and the results/README writer used by notebooks/.

The functions take plain pandas DataFrames and numpy arrays, so they are tested without training;
see Sohn et al., "MoANA", Sci. Rep. 2023 for the figures and tables they reproduce.
"""
