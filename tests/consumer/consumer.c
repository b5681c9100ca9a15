/* A C99 program using softxent's C API: the version it was promised, log_softmax, cross-entropy with
   options, and a status string for a bad call. Built by CMake consumers and by pkg-config's flags. */
#include <softxent/softxent.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#ifndef SOFTXENT_EXPECTED_VERSION
#define SOFTXENT_EXPECTED_VERSION ""
#endif

static int failures = 0;

static void expect(int condition, const char* what) {
  if (!condition) {
    fprintf(stderr, "consumer_c: FAILED: %s\n", what);
    ++failures;
  }
}

int main(void) {
  const float logits[2][3] = {{1.0f, 2.0f, 3.0f}, {0.5f, -1.0f, 4.0f}};
  const int64_t targets[2] = {2, 0};
  float log_probabilities[2][3];
  float loss = 0.0f;
  float gradient[2][3];
  softxent_cross_entropy_options options;
  softxent_exec exec;

  /* An empty expected version means "any": the pkg-config test passes it on the command line. */
  expect(SOFTXENT_EXPECTED_VERSION[0] == '\0' || strcmp(softxent_version(), SOFTXENT_EXPECTED_VERSION) == 0,
         "version");

  memset(&exec, 0, sizeof exec);
  exec.threads = 1;
  expect(softxent_log_softmax_f32(2, 3, &logits[0][0], 3, &log_probabilities[0][0], 3, &exec) == SOFTXENT_OK,
         "log_softmax returns ok");
  /* log_softmax(1, 2, 3)[2] = -log(1 + e^-1 + e^-2) */
  expect(fabs(log_probabilities[0][2] - -0.40760596) < 1e-6, "log_softmax value");

  softxent_cross_entropy_options_init(&options);
  options.reduction = SOFTXENT_REDUCTION_SUM;
  expect(softxent_cross_entropy_f32(2, 3, &logits[0][0], 3, targets, &options, &loss, &gradient[0][0], 3, NULL) ==
             SOFTXENT_OK,
         "cross_entropy returns ok");
  expect(fabs(loss - -(log_probabilities[0][2] + log_probabilities[1][0])) < 1e-5, "loss = -sum log p_target");
  expect(fabs(gradient[1][1] - exp(log_probabilities[1][1])) < 1e-6, "gradient of a non-target class is p_j");

  expect(softxent_softmax_f32(2, 3, &logits[0][0], 2, &log_probabilities[0][0], 3, NULL) ==
             SOFTXENT_ERROR_INVALID_SHAPE,
         "a stride below cols is an invalid shape");
  expect(strlen(softxent_status_string(SOFTXENT_ERROR_INVALID_SHAPE)) > 0, "status string");

  printf("consumer_c: softxent %s (%s), loss %.6f: %s\n", softxent_version(), softxent_isa(NULL), (double)loss,
         failures == 0 ? "ok" : "FAILED");
  return failures == 0 ? 0 : 1;
}
