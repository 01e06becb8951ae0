# Thin wrappers for those who type make; ./dev is the entry point (works without make).
.PHONY: test demo bench setup
test:
	./dev test
demo:
	./dev demo
bench:
	./dev bench
setup:
	./dev setup
