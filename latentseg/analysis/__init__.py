"""Looking inside the models: probes (receptive field, expert assignment, ablation, resolution
ceiling: :mod:`.probes`), scores on data a model did not train on (:mod:`.robustness`), expert
specialisation figures (:mod:`.specialisation`), attention cost
(:mod:`.scaling`), pictures (:mod:`.plots`) and the interactive explorer (:mod:`.widgets`, imported on
its own since it needs ipywidgets)."""
