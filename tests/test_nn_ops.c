#include <check.h>
Suite *suite_nn_ops(void) { return suite_create("nn_ops"); }
