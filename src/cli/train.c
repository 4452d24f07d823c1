/* backprop train: build a network from the flags, train it on Fashion-MNIST (or any MNIST-format
 * directory, or CSV files) with progress, an optional per-epoch CSV log, and save the model.
 * Every output is checked before any data is loaded (outputs.c). Nothing is written unless training
 * succeeds: the log grows in a temporary file beside LOG (bp_file) committed at the end, the model
 * is saved (the same way, by the library) only after training. */
#include "blas_core.h"
#include "cli.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct train_opts {
    cli_net_opts net;
    int optimizer;    /* bp_optimizer_kind */
    double eta, lambda, momentum, clip;
    int schedule;     /* bp_schedule_kind */
    int step_epochs;
    double gamma, eta_min;
    int epochs, batch, patience, threads, validation, quiet, checkpoint_every;
    cli_data_opts data;
    const char *out, *log, *checkpoint, *resume;
} train_opts;

/* THE MAIN JOB: what `backprop train` does with no flags: Fashion-MNIST from $BACKPROP_DATA or
 * /usr/share/datasets/fashion-mnist. The target is >= 0.89 test accuracy in <= 60 s on 2 cores;
 * tune the network and hyper-parameters here and nowhere else (--help prints these values). */
static const train_opts MAIN_JOB_DEFAULTS = {
    .net = {.layers = {.count = 4, .sizes = {784, 256, 128, 10}},
            .hidden = BP_RELU, .output = BP_SOFTMAX, .cost = BP_NLL, .init = BP_INIT_HE, .seed = 1},
    .optimizer = BP_OPT_ADAM,
    .eta = 0.001,
    .lambda = 0.0,
    .momentum = 0.9,
    .clip = 0.0,
    .schedule = BP_LR_COSINE,
    .step_epochs = 5,
    .gamma = 0.5,
    .eta_min = 0.0,
    .epochs = 10,
    .batch = 128,
    .patience = 0,
    .threads = 0,
    .validation = 0,
    .quiet = 0,
    .data = {NULL, NULL, NULL},
    .out = "model.bpn",
    .log = NULL,
    .checkpoint_every = 0,
    .checkpoint = NULL, /* OUT.ckpt */
    .resume = NULL,
};

static const char DESCRIPTION[] =
    "With no data flags it trains on Fashion-MNIST, read from $BACKPROP_DATA if set, else from\n"
    "/usr/share/datasets/fashion-mnist (Debian package dataset-fashion-mnist). --data DIR reads\n"
    "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and\n"
    "t10k-labels-idx1-ubyte (each plain or .gz) from DIR; --train-csv and --test-csv read CSV\n"
    "files of features followed by an integer class label (classes = width of the output layer).\n"
    "After every epoch the evaluation set (the test set, or the last --validation N training\n"
    "samples) is scored; at the end the test accuracy is printed and the model saved.\n"
    "Under `mpirun -np N` (when built with MPI) the N processes train one network data-parallel:\n"
    "--batch is the global mini-batch, split across them; rank 0 alone prints and writes.\n"
    "--checkpoint-every K writes the training state every K epochs; --resume FILE with the same\n"
    "flags continues it, ending with the same parameters as a run never interrupted.";

/* ---------------------------------------------------------------- progress */
static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct progress_state {
    int bar;           /* draw a progress bar on stderr (a terminal, not --quiet) */
    int lines;         /* print one line per epoch on stdout (not --quiet) */
    double last_draw;  /* when the bar was last drawn */
    int bar_len;       /* characters of the bar now on screen */
    const char *eval;  /* "test" or "val": what the evaluation columns hold */
    bp_file *log;      /* per-epoch CSV rows, or NULL */
    int epochs_done;
} progress_state;

static void draw_bar(progress_state *s, const bp_progress *p)
{
    enum { WIDTH = 24 };
    char bar[WIDTH + 1];
    int filled = (int)((long)WIDTH * p->batch / p->batches);
    for (int i = 0; i < WIDTH; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[WIDTH] = '\0';
    int len = fprintf(stderr, "\repoch %d/%d [%s] %d/%d loss %.4f %.0f samples/s", p->epoch + 1,
                      p->epochs, bar, p->batch, p->batches, p->loss, p->samples_per_s);
    if (len < s->bar_len) /* a shorter line than the last one: blank the rest */
        fprintf(stderr, "%*s", s->bar_len - len, "");
    s->bar_len = len > s->bar_len ? len : s->bar_len;
    fflush(stderr);
}

static int on_progress(const bp_progress *p, void *user)
{
    progress_state *s = user;
    if (interrupted)
        return 1;
    if (!p->epoch_done) {
        double now = now_seconds();
        if (s->bar && (now - s->last_draw >= 0.1 || p->batch == p->batches)) {
            draw_bar(s, p);
            s->last_draw = now;
        }
        return 0;
    }
    s->epochs_done = p->epoch + 1;
    if (s->bar && s->bar_len > 0) {
        fprintf(stderr, "\r%*s\r", s->bar_len, "");
        fflush(stderr);
        s->bar_len = 0;
    }
    if (s->lines) {
        printf("epoch %d/%d train_loss %.4f train_acc %.4f %s_loss %.4f %s_acc %.4f samples/s %.0f "
               "seconds %.2f\n", p->epoch + 1, p->epochs, p->loss, p->accuracy, s->eval,
               p->eval_loss, s->eval, p->eval_accuracy, p->samples_per_s, p->seconds);
        fflush(stdout);
    }
    if (s->log) {
        char row[256];
        int n = snprintf(row, sizeof row, "%d,%.6f,%.6f,%.6f,%.6f,%.1f,%.3f\n", p->epoch + 1,
                         p->loss, p->accuracy, p->eval_loss, p->eval_accuracy, p->samples_per_s,
                         p->seconds);
        if (bp_file_write(s->log, row, (size_t)n) != BP_OK) {
            fprintf(stderr, "backprop train: --log: %s\n", bp_last_error());
            return 1; /* stop: a run whose log is lost fails */
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- files */
/* The log's temporary file, created with the header line (eval: what the evaluation columns hold). */
static int open_log(const char *cmd, const char *path, const char *eval, bp_file **f)
{
    char header[128];
    int n = snprintf(header, sizeof header, "epoch,train_loss,train_accuracy,%s_loss,%s_accuracy,"
                     "samples_per_s,seconds\n", eval, eval);
    bp_status st = bp_file_create(f, path);
    if (!st && (st = bp_file_write(*f, header, (size_t)n))) {
        bp_file_discard(*f);
        *f = NULL;
    }
    return st ? cli_fail(cmd, st, "--log %s", path) : CLI_OK;
}

/* ---------------------------------------------------------------- the command */
typedef struct train_run {
    bp_net *net;
    bp_dataset train, test, val;
    bp_file *log;
    char *checkpoint; /* the default checkpoint path, OUT.ckpt, when allocated */
    cli_ranks ranks;
} train_run;

static void train_run_free(train_run *r)
{
    bp_file_discard(r->log); /* still open only on failure */
    free(r->checkpoint);
    bp_dataset_free(&r->train);
    bp_dataset_free(&r->test);
    bp_dataset_free(&r->val);
    bp_net_free(r->net);
}

/* What the evaluation after each epoch is made on, as the epoch lines and the log name it. */
static const char *eval_name(const train_opts *o) { return o->validation > 0 ? "val" : "test"; }

static bp_train_config make_config(const train_opts *o, progress_state *ps)
{
    bp_train_config cfg = {
        .epochs = o->epochs,
        .batch_size = o->batch,
        .seed = o->net.seed,
        .optim = {.kind = (bp_optimizer_kind)o->optimizer, .eta = (float)o->eta,
                  .lambda = (float)o->lambda, .mu = (float)o->momentum,
                  .clip_norm = (float)o->clip},
        .schedule = {.kind = (bp_schedule_kind)o->schedule, .step_epochs = o->step_epochs,
                     .gamma = (float)o->gamma, .eta_min = (float)o->eta_min},
        .patience = o->patience,
        .progress = on_progress,
        .user = ps,
        .checkpoint_every = o->checkpoint_every,
        .checkpoint_path = o->checkpoint,
        .resume_path = o->resume,
    };
    return cfg;
}

static int check_flags(const cli_command *cmd, const train_opts *o)
{
    if ((o->data.train_csv != NULL) != (o->data.test_csv != NULL))
        return cli_usage_error(cmd, "--train-csv and --test-csv go together");
    if (o->checkpoint && o->checkpoint_every == 0)
        return cli_usage_error(cmd, "--checkpoint needs --checkpoint-every");
    if (o->patience > 0 && o->validation == 0)
        fprintf(stderr, "backprop train: note: --patience without --validation stops early on the "
                "test set\n");
    /* Values each flag accepts alone but the library refuses together (or once rounded to float:
     * --eta 1e-50 is 0): refused here, before any data is loaded. */
    bp_train_config cfg = make_config(o, NULL);
    float eta;
    if (!(cfg.optim.eta > 0))
        return cli_usage_error(cmd, "--eta %g is 0 as a float", o->eta);
    if (bp_schedule_eta(&cfg.schedule, cfg.optim.eta, 0, cfg.epochs, &eta) != BP_OK ||
        bp_schedule_eta(&cfg.schedule, cfg.optim.eta, cfg.epochs - 1, cfg.epochs, &eta) != BP_OK)
        return cli_usage_error(cmd, "--schedule: %s", bp_last_error()); /* the last is the least */
    return cli_data_check(cmd, &o->data);
}

/* Load the data, split off the validation set; everything that can fail before training. */
static int prepare(const cli_command *cmd, const train_opts *o, train_run *r)
{
    const char *name = cmd->sub->name;
    bp_net_info info;
    int rc;
    bp_net_describe(r->net, &info);
    const cli_path outputs[] = {{"--out", o->out, NULL}, {"--log", o->log, NULL},
                                {"--checkpoint", o->checkpoint_every > 0 ? o->checkpoint : NULL,
                                 NULL}};
    const cli_path inputs[] = {{"--resume", o->resume, "--checkpoint"}};
    if (r->ranks.rank == 0 && (rc = cli_outputs_check(cmd, outputs, 3, inputs, 1, &o->data)))
        return rc;
    if ((rc = cli_data_load(name, &o->data, 1, info.sizes[0], info.sizes[info.num_layers - 1],
                            &r->train)) ||
        (rc = cli_data_load(name, &o->data, 0, info.sizes[0], info.sizes[info.num_layers - 1],
                            &r->test)))
        return rc;
    if (o->validation > 0) {
        if (o->validation >= r->train.count)
            return cli_error(name, "--validation %d: must be smaller than the %d training samples",
                             o->validation, r->train.count);
        bp_status st = bp_dataset_split(&r->train, o->validation, &r->val);
        if (st)
            return cli_fail(name, st, "cannot split off the validation set");
    }
    if (o->log && r->ranks.rank == 0)
        return open_log(name, o->log, eval_name(o), &r->log);
    return CLI_OK;
}

/* Train with SIGINT turned into a stop request. */
static int run_training(const char *name, const train_opts *o, train_run *r)
{
    const bp_dataset *eval = o->validation > 0 ? &r->val : &r->test;
    progress_state ps = {.bar = !o->quiet && r->ranks.rank == 0 && isatty(STDERR_FILENO),
                         .lines = !o->quiet, .eval = eval_name(o), .log = r->log};
    bp_train_config cfg = make_config(o, &ps);
    cfg.parallel = r->ranks.parallel;
    struct sigaction sa = {0}, old;
    double start, best;
    bp_status st;
    sa.sa_handler = on_sigint;
    sa.sa_flags = SA_RESETHAND; /* a second Ctrl-C kills at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    start = now_seconds();
    st = bp_train(r->net, &r->train, eval, &cfg, &best);
    sigaction(SIGINT, &old, NULL);
    if (st == BP_ESTOPPED && interrupted) {
        cli_error(name, "interrupted after %d epochs: nothing saved", ps.epochs_done);
        return CLI_INTERRUPTED;
    }
    if (st)
        return cli_fail(name, st, "training failed after %d epochs (nothing saved%s%s)",
                        ps.epochs_done,
                        o->checkpoint_every > 0 ? "; last checkpoint, if any: " : "",
                        o->checkpoint_every > 0 ? o->checkpoint : "");
    printf("trained in %.1f s\n", now_seconds() - start);
    if (ps.epochs_done == 0) /* resumed from the checkpoint of the run's end */
        printf("no epoch left to train: the checkpoint is of the run's last epoch or its early "
               "stop\n");
    else if (o->patience > 0 && ps.epochs_done < o->epochs)
        printf("early stop after epoch %d: kept the best epoch (%s accuracy %.4f)\n",
               ps.epochs_done, ps.eval, best);
    return CLI_OK;
}

/* Score on the test set, save the model, then commit the log. */
static int finish(const char *name, const train_opts *o, train_run *r)
{
    double loss, acc;
    bp_status st = bp_evaluate_parallel(r->net, &r->test, r->ranks.parallel, &loss, &acc, NULL);
    if (st)
        return cli_fail(name, st, "cannot evaluate on the test set");
    printf("test accuracy %.4f\n", acc);
    if (r->ranks.rank > 0) /* rank 0 writes the model and the log */
        return CLI_OK;
    if ((st = bp_model_save(r->net, o->out)))
        return cli_fail(name, st, "cannot save the model to %s", o->out);
    printf("saved %s\n", o->out);
    if (r->log) {
        st = bp_file_commit(r->log);
        r->log = NULL;
        if (st)
            return cli_fail(name, st, "--log %s", o->log);
        printf("log %s\n", o->log);
    }
    return CLI_OK;
}

int cli_train(const cli_subcommand *self, int argc, char **argv)
{
    train_opts o = MAIN_JOB_DEFAULTS;
    const cli_option options[] = {
        CLI_NET_OPTIONS(&o.net),
        CLI_ENUM("optimizer", &o.optimizer, "OPT", cli_optimizers, "optimizer"),
        CLI_INTEGER("epochs", &o.epochs, "N", 1, INT_MAX, "epochs"),
        CLI_INTEGER("batch", &o.batch, "N", 1, 1 << 20, "mini-batch size"),
        CLI_NUMBER("eta", &o.eta, "X", 0, FLT_MAX, CLI_OPEN_MIN, "learning rate"),
        CLI_NUMBER("lambda", &o.lambda, "X", 0, FLT_MAX, 0, "L2 weight decay"),
        CLI_NUMBER("momentum", &o.momentum, "X", 0, 1, CLI_OPEN_MAX,
                   "momentum coefficient (momentum, nesterov)"),
        CLI_NUMBER("clip", &o.clip, "X", 0, FLT_MAX, 0, "clip the gradient norm to X (0 = off)"),
        CLI_ENUM("schedule", &o.schedule, "SCHED", cli_schedules, "learning-rate schedule"),
        CLI_INTEGER("step-epochs", &o.step_epochs, "N", 1, INT_MAX,
                    "step schedule: epochs between decays"),
        CLI_NUMBER("gamma", &o.gamma, "X", 0, 1, CLI_OPEN_MIN, "step schedule: decay factor"),
        CLI_NUMBER("eta-min", &o.eta_min, "X", 0, FLT_MAX, 0, "cosine schedule: final rate"),
        CLI_INTEGER("patience", &o.patience, "N", 0, INT_MAX,
                    "stop after N epochs without a better evaluation accuracy and keep the best "
                    "(0 = off)"),
        CLI_INTEGER("threads", &o.threads, "N", 0, 1024, "OpenBLAS threads (0 = 1 for a small step, else OpenBLAS's default)"),
        CLI_DATA_DIR_OPTION(&o.data, "train-* and t10k-*"),
        CLI_TEXT("train-csv", &o.data.train_csv, "FILE", "training CSV: features, then the label"),
        CLI_TEXT("test-csv", &o.data.test_csv, "FILE", "test CSV: features, then the label"),
        CLI_INTEGER("validation", &o.validation, "N", 0, INT_MAX,
                    "evaluate each epoch on the last N training samples, held out (0 = on the "
                    "test set)"),
        CLI_TEXT("out", &o.out, "MODEL", "where to save the model"),
        CLI_TEXT("log", &o.log, "FILE", "write one CSV row per epoch to FILE"),
        CLI_FLAG("quiet", &o.quiet, "no progress bar and no per-epoch lines"),
        CLI_INTEGER("checkpoint-every", &o.checkpoint_every, "K", 0, INT_MAX,
                    "write a checkpoint after every K-th epoch (0 = never)"),
        CLI_TEXT("checkpoint", &o.checkpoint, "FILE", "where --checkpoint-every writes (default "
                 "MODEL.ckpt, MODEL the --out path)"),
        CLI_TEXT("resume", &o.resume, "FILE", "continue the run of the same flags from this "
                 "checkpoint"),
    };
    const cli_command cmd = {.sub = self, .description = DESCRIPTION, .options = options,
                             .num_options = sizeof options / sizeof options[0]};
    train_run r = {0};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc)
        return rc < 0 ? CLI_OK : rc;
    if ((rc = check_flags(&cmd, &o)) || (rc = cli_net_build(&cmd, &o.net, &r.net)))
        return rc;
    blas_threads_choose(o.threads, r.net, o.batch);
    if (o.checkpoint_every > 0 && !o.checkpoint) {
        size_t size = strlen(o.out) + sizeof ".ckpt";
        if (!(r.checkpoint = malloc(size))) {
            train_run_free(&r);
            return cli_error(self->name, "out of memory");
        }
        snprintf(r.checkpoint, size, "%s.ckpt", o.out);
        o.checkpoint = r.checkpoint;
    }
    /* Every rank prepares; if one fails, all stop before training waits for it. */
    if (!(rc = cli_ranks_start(&r.ranks, self->name)) &&
        !(rc = cli_ranks_agree(&r.ranks, prepare(&cmd, &o, &r))) &&
        !(rc = run_training(self->name, &o, &r)))
        rc = finish(self->name, &o, &r);
    train_run_free(&r);
    cli_ranks_stop(&r.ranks);
    return rc;
}
