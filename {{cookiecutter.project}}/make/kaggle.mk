# Kaggle-only targets (a paper project has no such file).
.PHONY: rules submit all

rules:  ## write RULES.md from the competition's metadata (your ticks kept)
	$(RUN) rules

submit:  ## validate and submit FILE (default: latest) with MSG, then wait for the score
	$(RUN) submit $(FILE) $(if $(MSG),-m "$(MSG)") $(if $(YES),--yes)

all: data train predict submit  ## data, train, predict, then submit (asks first; YES=1 skips)
