# Paper-only targets (a Kaggle project has no such file).
# What these targets read besides the Makefile's own (it refuses any other variable):
VARIABLES += PAPER
.PHONY: notes compare

notes:  ## write or refresh NOTES.md from arXiv (your text kept); PAPER=<id> switches paper
	$(RUN) notes $(PAPER)

compare:  ## our numbers beside the paper's, recorded in NOTES.md
	$(RUN) compare $(if $(RUN_ID),--run $(RUN_ID))
