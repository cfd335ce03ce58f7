/* Built-in hardware configurations (key = value text, parsed by hw_model_parse). */
#ifndef HAQ_HW_BUILTIN_H
#define HAQ_HW_BUILTIN_H

/* bitfusion-edge, bitfusion-cloud, bismo-edge, bismo-cloud; NULL-terminated. */
extern const char *const hw_builtin_names[];

/* The configuration text of a built-in, or NULL for an unknown name. */
const char *hw_builtin_text(const char *name);

#endif
