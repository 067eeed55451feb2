// Subcommands of the rlvr binary; each returns the process exit code (0 ok, 1 failure, 2 usage).
#ifndef RLVR_COMMANDS_H
#define RLVR_COMMANDS_H

int cmd_train(int argc, char **argv);
int cmd_sft(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_reward(int argc, char **argv);
int cmd_loss(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_ckpt(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_dist_selftest(int argc, char **argv);
int cmd_loss_testgen(int argc, char **argv);

#endif
