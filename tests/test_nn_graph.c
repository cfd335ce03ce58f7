#include <check.h>
Suite *suite_nn_graph(void) { return suite_create("nn_graph"); }
