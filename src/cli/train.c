/* backprop train: build a network from the flags, train it on Fashion-MNIST (or any MNIST-format
 * directory, or CSV files) with progress, an optional per-epoch CSV log, and save the model.
 * Every output is checked before any data is loaded (outputs.c). Nothing is written unless training
 * succeeds: the log grows in a temporary file beside LOG (bp_file) committed at the end, the model
 * is saved (the same way, by the library) only after training. */
#include "blas_core.h"
#include "../clock.h"
#include "cli.h"
#include "device.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct train_opts {
    cli_net_opts net;
    int optimizer;    /* bp_optimizer_kind */
    double eta, lambda, momentum, clip, weight_decay, input_dropout;
    int schedule;     /* bp_schedule_kind */
    int step_epochs;
    double gamma, eta_min;
    int epochs, batch, patience, threads, workers, validation, quiet, checkpoint_every, normalize;
    double energy_weight, force_weight; /* with --forces */
    int weight_given;                   /* --energy-weight or --force-weight was given */
    int device;       /* CLI_DEVICE_CPU or CLI_DEVICE_CUDA */
    cli_data_opts data;
    const char *out, *log, *checkpoint, *resume, *plot;
    const char *dropout;               /* --dropout as given: R, or R,R,... per hidden layer */
    const char *weight_decay_arg;      /* --weight-decay as given (weight_decay: its value) */
    float dropout_rates[BP_MAX_LAYERS]; /* bp_train_config.dropout, from the two dropout flags */
} train_opts;

/* What `backprop train` does with no flags: Fashion-MNIST from $BACKPROP_DATA or
 * /usr/share/datasets/fashion-mnist, about 0.906 test accuracy in 45 epochs of AdamW (weight decay
 * 0.1) with dropout 0.1 (the README's "The default run" has the candidates measured). The defaults
 * of every flag are here and nowhere else (--help prints them, docs/cli.md lists them). */
static const train_opts TRAIN_DEFAULTS = {
    .net = {.layers = {.count = 4, .sizes = {784, 256, 128, 10}},
            .hidden = BP_RELU, .output = BP_SOFTMAX, .cost = BP_NLL, .init = BP_INIT_HE, .seed = 1},
    .optimizer = BP_OPT_ADAM,
    .eta = 0.001,
    .lambda = 0.0,
    .momentum = 0.9,
    .clip = 0.0,
    .weight_decay_arg = "0.1",
    .input_dropout = 0.0,
    .dropout = "0.1",
    .schedule = BP_LR_COSINE,
    .step_epochs = 5,
    .gamma = 0.5,
    .eta_min = 0.0,
    .epochs = 45,
    .batch = 128,
    .patience = 0,
    .threads = 0,
    .workers = 0,
    .device = CLI_DEVICE_CPU,
    .validation = 0,
    .quiet = 0,
    .energy_weight = 1.0,
    .force_weight = 1.0,
    .data = {NULL, NULL, NULL, 0},
    .out = "model.bpn",
    .log = NULL,
    .checkpoint_every = 0,
    .checkpoint = NULL, /* OUT.ckpt */
    .resume = NULL,
    .plot = NULL,
};

static const char DESCRIPTION[] =
    "With no data flags it trains on Fashion-MNIST, read from $BACKPROP_DATA if set, else from "
    "/usr/share/datasets/fashion-mnist (Debian package dataset-fashion-mnist). --data DIR reads "
    "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and "
    "t10k-labels-idx1-ubyte (each plain or .gz) from DIR; --train-csv and --test-csv read CSV "
    "files of features followed by a class label (classes = width of the output layer; a network "
    "of one sigmoid output classifies labels 0 and 1).\n\n"
    "After every epoch the evaluation set (the test set, or --validation N training samples drawn "
    "at random with --seed, stratified by class) is scored; at the end the test accuracy is "
    "printed and the model saved. With --validation, --train-csv needs no --test-csv.\n\n"
    "Under `mpirun -np N` (when built with MPI) the N processes train one network data-parallel: "
    "--batch is the global mini-batch, split across them; rank 0 alone prints and writes.\n\n"
    "--checkpoint-every K writes the training state every K epochs; --resume FILE with the same "
    "flags continues it, ending with the same parameters as a run never interrupted.";

/* "1 epoch", "3 epochs" into buf. */
static const char *count_of(char *buf, size_t size, long n, const char *noun)
{
    snprintf(buf, size, "%ld %s%s", n, noun, n == 1 ? "" : "s");
    return buf;
}

/* ---------------------------------------------------------------- progress */
static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* SIGTERM and SIGHUP (kill, timeout, a batch system's time limit, a closed terminal) during
 * training remove the log's temporary file, then kill as by default: a handler that returned to
 * stop the run as Ctrl-C does would keep an MPI rank waiting in a collective for a dead one alive
 * past mpirun's SIGTERM. The name is copied before the handler is installed; unlink and raise
 * are async-signal-safe. */
static char temp_to_remove[4096 + 64];

static void on_sigterm(int sig)
{
    if (temp_to_remove[0])
        unlink(temp_to_remove);
    raise(sig); /* SA_RESETHAND | SA_NODEFER: the default action, at once */
}

/* Install on_sigterm for SIGTERM and SIGHUP (old[0], old[1]: what they were) for the log f, but
 * where the signal is ignored (nohup ignores SIGHUP): that choice of the caller's stands. */
static void catch_termination(const bp_file *f, struct sigaction old[2])
{
    static const int sigs[2] = {SIGTERM, SIGHUP};
    struct sigaction sa = {0};
    const char *temp = f ? bp_file_temp_path(f) : NULL;
    size_t n = temp ? strlen(temp) : 0;
    temp_to_remove[0] = '\0';
    if (n > 0 && n < sizeof temp_to_remove) /* longer: no file of that name could be opened */
        memcpy(temp_to_remove, temp, n + 1);
    sa.sa_handler = on_sigterm;
    sa.sa_flags = SA_RESETHAND | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < 2; i++) {
        sigaction(sigs[i], NULL, &old[i]);
        if (old[i].sa_handler != SIG_IGN)
            sigaction(sigs[i], &sa, NULL);
    }
}

static void restore_termination(const struct sigaction old[2])
{
    sigaction(SIGTERM, &old[0], NULL);
    sigaction(SIGHUP, &old[1], NULL);
    temp_to_remove[0] = '\0';
}

typedef struct progress_state {
    int bar;           /* draw a progress bar on stderr (a terminal, not --quiet) */
    int lines;         /* print one line per epoch on stdout (not --quiet) */
    double last_draw;  /* when the bar was last drawn */
    const char *eval;  /* "test" or "val": what the evaluation columns hold */
    int regression;    /* --targets: the evaluation's metric is the RMSE, not the accuracy */
    bp_file *log;      /* per-epoch CSV rows, or NULL */
    int epochs_done;
    double eval_loss;  /* of the last epoch */
    int checkpoint_every;
    int checkpoint_epoch; /* the epoch of the last checkpoint written, 0 if none */
} progress_state;

/* Seconds as "42s", "3:07" or "1:02:03" into buf. */
static const char *clock_of(char *buf, size_t size, double seconds)
{
    long t = seconds > 0 && seconds < 1e9 ? (long)(seconds + 0.5) : 0;
    if (t < 60)
        snprintf(buf, size, "%lds", t);
    else if (t < 3600)
        snprintf(buf, size, "%ld:%02ld", t / 60, t % 60);
    else
        snprintf(buf, size, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    return buf;
}

/* "epoch 3/10 [#####.....] 120/469 loss 0.4123 12s ETA 35s 19737/s", as wide as the terminal: the
 * bar takes the room the numbers leave; on a narrow terminal the rate, then the loss and the
 * batch count go before the bar shrinks below 10 characters. */
static void draw_bar(const bp_progress *p)
{
    char head[64], tail[4][96], bar[512], t1[32], t2[32];
    int width = cli_term_width() - 1, drop = 0, room;
    snprintf(head, sizeof head, "epoch %d/%d ", p->epoch + 1, p->epochs);
    snprintf(tail[0], sizeof tail[0], " %s ETA %s", clock_of(t1, sizeof t1, p->seconds),
             clock_of(t2, sizeof t2, p->seconds * (p->batches - p->batch) / p->batch));
    snprintf(tail[1], sizeof tail[1], " %d/%d", p->batch, p->batches);
    snprintf(tail[2], sizeof tail[2], " loss %.4f", p->loss);
    snprintf(tail[3], sizeof tail[3], " %.0f/s", p->samples_per_s);
    for (;;) { /* the parts kept: tail[0] always, then 1..3-drop */
        room = width - (int)strlen(head) - 2 - (int)strlen(tail[0]);
        for (int i = 1; i <= 3 - drop; i++)
            room -= (int)strlen(tail[i]);
        if (room >= 10 || drop == 3)
            break;
        drop++;
    }
    if (room > (int)sizeof bar - 1)
        room = (int)sizeof bar - 1;
    int filled = room > 0 ? (int)((long)room * p->batch / p->batches) : 0;
    for (int i = 0; i < room; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[room > 0 ? room : 0] = '\0';
    cli_status("%s%s%s%s%s%s%s%s", head, room > 0 ? "[" : "", bar, room > 0 ? "]" : "",
               drop < 3 ? tail[1] : "", drop < 2 ? tail[2] : "", tail[0], drop < 1 ? tail[3] : "");
}

/* Draws the bar during an epoch, records and prints its end; asks to stop after Ctrl-C. */
static int on_progress(const bp_progress *p, void *user)
{
    progress_state *s = user;
    s->eval_loss = p->eval_loss;
    if (!p->epoch_done) {
        double now = bp__seconds();
        if (!interrupted && s->bar && (now - s->last_draw >= 0.1 || p->batch == p->batches)) {
            draw_bar(p);
            s->last_draw = now;
        }
        return interrupted;
    }
    /* The epoch is done (and its checkpoint written) even when Ctrl-C came meanwhile. */
    s->epochs_done = p->epoch + 1;
    if (s->checkpoint_every > 0 && s->epochs_done % s->checkpoint_every == 0)
        s->checkpoint_epoch = s->epochs_done; /* written before this call */
    cli_status_clear();
    if (s->lines && s->regression) {
        printf("epoch %d/%d train_loss %.4f %s_loss %.4f %s_rmse %.6g samples/s %.0f seconds "
               "%.2f\n", p->epoch + 1, p->epochs, p->loss, s->eval, p->eval_loss, s->eval,
               p->eval_rmse, p->samples_per_s, p->seconds);
        fflush(stdout);
    } else if (s->lines) {
        printf("epoch %d/%d train_loss %.4f train_acc %.4f %s_loss %.4f %s_acc %.4f samples/s %.0f "
               "seconds %.2f\n", p->epoch + 1, p->epochs, p->loss, p->accuracy, s->eval,
               p->eval_loss, s->eval, p->eval_accuracy, p->samples_per_s, p->seconds);
        fflush(stdout);
    }
    if (s->log) {
        char row[256];
        int n = s->regression
                    ? snprintf(row, sizeof row, "%d,%.6f,%.6f,%.6g,%.1f,%.3f\n", p->epoch + 1,
                               p->loss, p->eval_loss, p->eval_rmse, p->samples_per_s, p->seconds)
                    : snprintf(row, sizeof row, "%d,%.6f,%.6f,%.6f,%.6f,%.1f,%.3f\n", p->epoch + 1,
                               p->loss, p->accuracy, p->eval_loss, p->eval_accuracy,
                               p->samples_per_s, p->seconds);
        if (bp_file_write(s->log, row, (size_t)n) != BP_OK) {
            fprintf(stderr, "backprop train: --log: %s\n", bp_last_error());
            return 1; /* stop: a run whose log is lost fails */
        }
    }
    return interrupted;
}

/* ---------------------------------------------------------------- files */
/* The log's temporary file beside path (the log, or with --plot alone the PNG: the plot's data),
 * created with the header line (eval: what the evaluation columns hold; regression: RMSE columns
 * instead of accuracies). */
static int open_log(const char *cmd, const char *path, const char *eval, int regression,
                    bp_file **f)
{
    char header[128];
    int n = regression
                ? snprintf(header, sizeof header, "epoch,train_loss,%s_loss,%s_rmse,samples_per_s,"
                           "seconds\n", eval, eval)
                : snprintf(header, sizeof header, "epoch,train_loss,train_accuracy,%s_loss,"
                           "%s_accuracy,samples_per_s,seconds\n", eval, eval);
    bp_status st = bp_file_create(f, path);
    if (!st && (st = bp_file_write(*f, header, (size_t)n))) {
        bp_file_discard(*f);
        *f = NULL;
    }
    return st ? cli_fail(cmd, st, "cannot write the log beside %s", path) : CLI_OK;
}

/* ---------------------------------------------------------------- the command */
typedef struct train_run {
    bp_net *net;
    bp_dataset train, test, val;
    bp_file *log;     /* the log being written (beside the PNG with --plot and no --log) */
    char *checkpoint; /* the default checkpoint path, OUT.ckpt, when allocated */
    cli_ranks ranks;
    double eval_loss; /* the last epoch's evaluation loss */
    int argc;         /* the command line, for the resume hint after Ctrl-C */
    char **argv;
} train_run;

static void train_run_free(train_run *r)
{
    bp_file_discard(r->log); /* still open only on failure, or as the plot's data alone */
    free(r->checkpoint);
    bp_dataset_free(&r->train);
    bp_dataset_free(&r->test);
    bp_dataset_free(&r->val);
    bp_net_free(r->net);
}

/* What the evaluation after each epoch is made on, as the epoch lines and the log name it. */
static const char *eval_name(const train_opts *o) { return o->validation > 0 ? "val" : "test"; }

/* Whether there is a test set: an IDX directory has one, CSV files only with --test-csv. */
static int has_test(const train_opts *o) { return !o->data.train_csv || o->data.test_csv; }

static bp_train_config make_config(const train_opts *o, progress_state *ps)
{
    bp_train_config cfg = {
        .epochs = o->epochs,
        .batch_size = o->batch,
        .seed = o->net.seed,
        .optim = {.kind = (bp_optimizer_kind)o->optimizer, .eta = (float)o->eta,
                  .lambda = (float)o->lambda, .mu = (float)o->momentum,
                  .clip_norm = (float)o->clip, .weight_decay = (float)o->weight_decay},
        .schedule = {.kind = (bp_schedule_kind)o->schedule, .step_epochs = o->step_epochs,
                     .gamma = (float)o->gamma, .eta_min = (float)o->eta_min},
        .patience = o->patience,
        .progress = on_progress,
        .user = ps,
        .checkpoint_every = o->checkpoint_every,
        .checkpoint_path = o->checkpoint,
        .resume_path = o->resume,
        .workers = o->workers,
        .forces = o->data.forces > 0,
        .energy_weight = (float)o->energy_weight,
        .force_weight = (float)o->force_weight,
    };
    memcpy(cfg.dropout, o->dropout_rates, sizeof cfg.dropout);
    return cfg;
}

/* The data flags: which sets exist, and that standard input is read once. */
static int check_data_flags(const cli_command *cmd, const train_opts *o)
{
    const cli_data_opts *d = &o->data;
    if (d->test_csv && !d->train_csv)
        return cli_usage_error(cmd, "--test-csv needs --train-csv");
    if (d->train_csv && !d->test_csv && o->validation == 0)
        return cli_usage_error(cmd, "--train-csv without --test-csv needs --validation N (the "
                               "samples held out to evaluate each epoch)");
    if (d->train_csv && d->test_csv && strcmp(d->train_csv, "-") == 0 &&
        strcmp(d->test_csv, "-") == 0)
        return cli_usage_error(cmd, "--train-csv and --test-csv cannot both be - (standard input "
                               "is read once)");
    return cli_data_check(cmd, d);
}

/* A fit of targets or forces (--targets, --forces): the default weight decay and dropout are the
 * classifier's, so such a fit decays and drops nothing unless its flags say so. A flag's pointer
 * is the default's only when the flag was not given. */
static int fit_of_values(const train_opts *o) { return o->data.targets > 0 || o->data.forces > 0; }

/* o->weight_decay from --weight-decay, and o->dropout_rates from --input-dropout (layer 1) and
 * --dropout: one rate for every hidden layer, or one per hidden layer, separated by commas. Each
 * is in [0, 1) as a float. */
static int parse_regularization(const cli_command *cmd, train_opts *o)
{
    int hidden = o->net.layers.count - 2, n = 0;
    if (o->weight_decay_arg == TRAIN_DEFAULTS.weight_decay_arg && fit_of_values(o))
        o->weight_decay_arg = "0";
    if (o->dropout == TRAIN_DEFAULTS.dropout && fit_of_values(o))
        o->dropout = NULL;
    char *stop;
    o->weight_decay = strtod(o->weight_decay_arg, &stop);
    if (stop == o->weight_decay_arg || *stop || !(o->weight_decay >= 0) ||
        !((float)o->weight_decay < FLT_MAX) || (o->weight_decay > 0 && (float)o->weight_decay == 0))
        return cli_usage_error(cmd, "--weight-decay %s is not a number >= 0 (as a float)",
                               o->weight_decay_arg);
    float rates[BP_MAX_LAYERS];
    memset(o->dropout_rates, 0, sizeof o->dropout_rates);
    o->dropout_rates[0] = (float)o->input_dropout;
    if (!(o->dropout_rates[0] < 1))
        return cli_usage_error(cmd, "--input-dropout %g is 1 as a float", o->input_dropout);
    for (const char *s = o->dropout; s; n++) {
        char *end;
        double v = strtod(s, &end);
        if (end == s || (*end && *end != ',') || n == BP_MAX_LAYERS || !(v >= 0 && (float)v < 1))
            return cli_usage_error(cmd, "--dropout %s: rate %d is not a number in [0, 1) "
                                   "(expected R, or R,R,... one per hidden layer)", o->dropout,
                                   n + 1);
        if (v > 0 && (float)v == 0) /* 0 is "off": a rate given must not turn dropout off */
            return cli_usage_error(cmd, "--dropout %s: rate %d rounds to 0 as a float (the "
                                   "smallest above 0 is %g): give 0 itself or a larger rate",
                                   o->dropout, n + 1, (double)nextafterf(0.0f, 1.0f));
        rates[n] = (float)v;
        s = *end ? end + 1 : NULL;
    }
    if (o->dropout && o->dropout != TRAIN_DEFAULTS.dropout && hidden == 0 && rates[0] > 0)
        return cli_usage_error(cmd, "--dropout %s: the network has no hidden layer to drop "
                               "(--input-dropout drops inputs)", o->dropout);
    if (o->dropout && n != 1 && n != hidden) /* one rate: every hidden layer there is */
        return cli_usage_error(cmd, "--dropout %s: %d rate(s) for %d hidden layer(s) (one for all "
                               "of them, or one each)", o->dropout, n, hidden);
    for (int l = 2; o->dropout && l <= hidden + 1; l++)
        o->dropout_rates[l - 1] = rates[n == 1 ? 0 : l - 2];
    return CLI_OK;
}

/* Whether the run drops units (the force loss takes no dropout). */
static int drops_units(const train_opts *o)
{
    for (int i = 0; i < BP_MAX_LAYERS; i++)
        if (o->dropout_rates[i] > 0)
            return 1;
    return 0;
}

/* --forces and the flags that go with it (its weights) or not (dropout, --targets). */
static int check_force_flags(const cli_command *cmd, const train_opts *o)
{
    if (o->data.forces == 0)
        return o->weight_given ? cli_usage_error(cmd, "--energy-weight and --force-weight "
                                                 "weigh the terms of --forces K: give --forces")
                               : CLI_OK;
    if (drops_units(o))
        return cli_usage_error(cmd, "--forces takes no dropout (add --dropout 0)");
    if (!o->data.train_csv)
        return cli_usage_error(cmd, "--forces needs --train-csv");
    if (o->data.targets > 0)
        return cli_usage_error(cmd, "--forces takes no --targets (its targets are the energy and "
                               "the forces)");
    if ((float)o->energy_weight == 0 && (float)o->force_weight == 0)
        return cli_usage_error(cmd, "--forces with --energy-weight 0 and --force-weight 0 fits "
                               "nothing: one weight must be > 0");
    return CLI_OK;
}

/* --forces, --targets against the network --layers, --output and --cost describe, before it is
 * made: one force per input (exit 1, as ever), then as usage errors the force loss's conditions
 * (one output, the energy, fitted by the quadratic cost on an elementwise activation: bp_train's
 * BP_ECONFIG), one output per target. */
static int check_output_layer(const cli_command *cmd, const train_opts *o)
{
    const cli_layers *l = &o->net.layers;
    int n_out = l->sizes[l->count - 1];
    if (o->data.targets > 0)
        return cli_targets_fit(cmd, &o->data, (bp_activation)o->net.output,
                               (bp_cost)o->net.cost, n_out);
    if (o->data.forces == 0)
        return CLI_OK;
    if (o->data.forces != l->sizes[0])
        return cli_error(cmd->sub->name, "--forces %d: the forces are the gradient of the energy, "
                         "one per input: the network has %d inputs", o->data.forces, l->sizes[0]);
    if (n_out != 1)
        return cli_usage_error(cmd, "--forces %d fits one output (the energy), but --layers ends "
                               "in %d", o->data.forces, n_out);
    if (o->net.output == BP_SOFTMAX || o->net.cost != BP_QUADRATIC)
        return cli_usage_error(cmd, "--forces %d fits the energy by the quadratic cost on an "
                               "elementwise output, not --output %s --cost %s (use --output "
                               "identity --cost quadratic)", o->data.forces,
                               bp_activation_name((bp_activation)o->net.output),
                               bp_cost_name((bp_cost)o->net.cost));
    return CLI_OK;
}

static int check_flags(const cli_command *cmd, train_opts *o)
{
    int rc;
    if ((rc = parse_regularization(cmd, o)) || (rc = check_data_flags(cmd, o)) ||
        (rc = check_force_flags(cmd, o)) || (rc = check_output_layer(cmd, o)))
        return rc;
    if (o->checkpoint && o->checkpoint_every == 0)
        return cli_usage_error(cmd, "--checkpoint needs --checkpoint-every");
    if (o->plot && o->data.targets > 0)
        return cli_usage_error(cmd, "--plot draws the accuracy of a classifier; with --targets "
                               "write --log FILE and plot its rmse column");
    if (o->patience > 0 && o->validation == 0)
        fprintf(stderr, "backprop train: note: --patience without --validation stops early on the "
                "test set\n");
    /* Values each flag accepts alone but the library refuses together (or once rounded to float:
     * --eta 1e-50 is 0): refused here, before any data is loaded. */
    bp_train_config cfg = make_config(o, NULL);
    float eta;
    if (!(cfg.optim.eta > 0))
        return cli_usage_error(cmd, "--eta %g is 0 as a float", o->eta);
    /* the library's test, in float: the schedule never raises eta above the base rate */
    if (cfg.optim.eta * cfg.optim.weight_decay > 1.0f)
        return cli_usage_error(cmd, "--weight-decay %s with --eta %g: eta times the decay is %g, "
                               "above 1 (a factor 1 - eta decay below 0 would flip the "
                               "weights' signs at every step)", o->weight_decay_arg, o->eta,
                               (double)cfg.optim.eta * cfg.optim.weight_decay);
    if (bp_schedule_eta(&cfg.schedule, cfg.optim.eta, 0, cfg.epochs, &eta) != BP_OK ||
        bp_schedule_eta(&cfg.schedule, cfg.optim.eta, cfg.epochs - 1, cfg.epochs, &eta) != BP_OK)
        return cli_usage_error(cmd, "--schedule: %s", bp_last_error()); /* the last is the least */
    if (o->plot && !cli_plot_available())
        return cli_error(cmd->sub->name, "--plot %s: gnuplot is not installed (apt-get install "
                         "gnuplot-nox); without --plot, --log FILE keeps the same numbers",
                         o->plot);
    /* gnuplot is given the PNG's name and the log's (beside --log, or the PNG) */
    if (o->plot && ((rc = cli_plot_name_check(cmd, "--plot", o->plot)) ||
                    (rc = cli_plot_name_check(cmd, "--log", o->log))))
        return rc;
    return cli_device_check(cmd->sub->name, o->device); /* before any data is read */
}

/* Every output, before any data is loaded (outputs.c): writable, and no two of them nor an output
 * and an input the same file. --resume may be --checkpoint: it is read whole first. */
static int check_outputs(const cli_command *cmd, const train_opts *o)
{
    const cli_path outputs[] = {{"--out", o->out, NULL}, {"--log", o->log, NULL},
                                {"--plot", o->plot, NULL},
                                {"--checkpoint", o->checkpoint_every > 0 ? o->checkpoint : NULL,
                                 NULL}};
    const cli_path inputs[] = {{"--resume", o->resume, "--checkpoint"}};
    return cli_outputs_check(cmd, outputs, 4, inputs, 1, &o->data);
}

/* Load the data, draw the validation set; everything that can fail before training. */
static int prepare(const cli_command *cmd, const train_opts *o, train_run *r)
{
    const char *name = cmd->sub->name;
    bp_net_info info;
    int rc;
    bp_net_describe(r->net, &info);
    int n_in = info.sizes[0], n_out = info.sizes[info.num_layers - 1];
    if ((rc = cli_targets_check(cmd, &o->data, r->net)) ||
        (r->ranks.rank == 0 && (rc = check_outputs(cmd, o))) ||
        (rc = cli_data_load(name, &o->data, 1, n_in, n_out, &r->train)) ||
        (has_test(o) && (rc = cli_data_load(name, &o->data, 0, n_in, n_out, &r->test))))
        return rc;
    if (o->validation > 0) {
        if (o->validation >= r->train.count)
            return cli_error(name, "--validation %d: must be smaller than the %d training samples",
                             o->validation, r->train.count);
        bp_status st = bp_dataset_split_random(&r->train, o->validation, o->net.seed, &r->val);
        if (st)
            return cli_fail(name, st, "cannot draw the validation set");
    }
    /* with --forces the target scaling is the energy's (row 0 of the targets) */
    if (o->normalize &&
        (rc = cli_normalize(name, r->net, &r->train, o->data.targets > 0 || o->data.forces > 0)))
        return rc;
    if ((o->log || o->plot) && r->ranks.rank == 0)
        return open_log(name, o->log ? o->log : o->plot, eval_name(o), o->data.targets > 0,
                        &r->log);
    return CLI_OK;
}

/* s as one shell word into f: as it is when it holds no character a shell reads specially, else
 * in single quotes. */
static void put_shell_word(const char *s)
{
    if (s[0] && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                          "_./=:,+-@%") == strlen(s)) {
        fputs(s, stderr);
        return;
    }
    fputc('\'', stderr);
    for (; *s; s++)
        fputs(*s == '\'' ? "'\\''" : (char[]){*s, '\0'}, stderr);
    fputc('\'', stderr);
}

/* After Ctrl-C: what was kept, and the command that continues the run. */
static void report_interrupt(const train_opts *o, const train_run *r, const progress_state *ps)
{
    const char *ckpt = ps->checkpoint_epoch > 0 ? o->checkpoint : o->resume;
    char epoch[64];
    if (!ckpt) {
        cli_error("train", "interrupted in epoch %d: nothing saved", ps->epochs_done + 1);
        return;
    }
    if (ps->checkpoint_epoch > 0)
        snprintf(epoch, sizeof epoch, " (epoch %d)", ps->checkpoint_epoch);
    else
        snprintf(epoch, sizeof epoch, " (the one this run resumed from)");
    cli_status_clear();
    fprintf(stderr, "backprop train: interrupted in epoch %d: kept checkpoint %s%s; resume with "
            "`backprop", ps->epochs_done + 1, ckpt, epoch);
    for (int i = 0; i < r->argc; i++) {
        if (strcmp(r->argv[i], "--resume") == 0 && i + 1 < r->argc) {
            i++;
            continue;
        }
        if (strncmp(r->argv[i], "--resume=", 9) != 0) {
            fputc(' ', stderr);
            put_shell_word(r->argv[i]);
        }
    }
    fputs(" --resume ", stderr);
    put_shell_word(ckpt);
    fputs("`\n", stderr);
}

/* Train with SIGINT turned into a stop request. */
static int run_training(const char *name, const train_opts *o, train_run *r)
{
    const bp_dataset *eval = o->validation > 0 ? &r->val : &r->test;
    progress_state ps = {.bar = !o->quiet && r->ranks.rank == 0 && cli_term_is_tty(),
                         .lines = !o->quiet, .eval = eval_name(o), .log = r->log,
                         .checkpoint_every = o->checkpoint_every,
                         .regression = o->data.targets > 0};
    bp_train_config cfg = make_config(o, &ps);
    cfg.parallel = r->ranks.parallel;
    struct sigaction sa = {0}, old, old_term[2];
    double start, best;
    char epochs[32];
    bp_status st;
    sa.sa_handler = on_sigint;
    sa.sa_flags = SA_RESETHAND; /* a second Ctrl-C kills at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    catch_termination(r->log, old_term);
    start = bp__seconds();
    st = cli_device_train(o->device, r->net, &r->train, eval, &cfg, &best);
    restore_termination(old_term);
    sigaction(SIGINT, &old, NULL);
    r->eval_loss = ps.eval_loss;
    cli_status_clear();
    if (st == BP_ESTOPPED && interrupted) {
        report_interrupt(o, r, &ps);
        return CLI_INTERRUPTED;
    }
    /* a checkpoint of another run, or damaged (a NaN inside valid CRCs): either is unusable */
    if ((st == BP_EMISMATCH || st == BP_EFORMAT) && o->resume && ps.epochs_done == 0)
        return cli_fail(name, st, "cannot resume from %s (nothing saved)", o->resume);
    if (st)
        return cli_fail(name, st, "training failed after %s (nothing saved%s%s)",
                        count_of(epochs, sizeof epochs, ps.epochs_done, "epoch"),
                        o->checkpoint_every > 0 ? "; last checkpoint, if any: " : "",
                        o->checkpoint_every > 0 ? o->checkpoint : "");
    printf("trained in %.1f s\n", bp__seconds() - start);
    if (ps.epochs_done == 0) /* resumed from the checkpoint of the run's end */
        printf("no epoch left to train: the checkpoint is of the run's last epoch or its early "
               "stop\n");
    else if (o->patience > 0 && ps.epochs_done < o->epochs)
        printf("early stop after epoch %d: kept the best epoch (%s accuracy %.4f)\n",
               ps.epochs_done, ps.eval, best);
    return CLI_OK;
}

/* Draw the plot from the log's rows (in its temporary file), then commit the log (or, with --plot
 * alone, discard the plot's data). */
static int publish_log(const char *name, const train_opts *o, train_run *r)
{
    int rc = CLI_OK;
    bp_status st;
    if (o->plot && !(rc = cli_plot_log(name, bp_file_temp_path(r->log), o->out, o->plot)))
        printf("plot %s\n", o->plot);
    if (!o->log) {
        bp_file_discard(r->log);
        r->log = NULL;
        return rc ? cli_error(name, "the model is saved; only the plot is missing") : CLI_OK;
    }
    st = bp_file_commit(r->log);
    r->log = NULL;
    if (st)
        return cli_fail(name, st, "--log %s", o->log);
    printf("log %s\n", o->log);
    return rc;
}

/* Score on the test set (or, without one, the validation set), save the model, then draw the plot
 * and commit the log. */
static int finish(const char *name, const train_opts *o, train_run *r)
{
    double loss, acc;
    const bp_dataset *final = has_test(o) ? &r->test : &r->val;
    const char *set = has_test(o) ? "test" : "val";
    bp_status st = BP_OK;
    int rc;
    if (o->data.forces > 0) { /* bp_evaluate knows no force weights: the last epoch's loss */
        printf("%s loss %.6g (energy + forces, mean per sample)\n", set, r->eval_loss);
    } else if (o->data.targets > 0) {
        char prefix[8];
        snprintf(prefix, sizeof prefix, "%s ", set);
        if ((rc = cli_print_regression(name, r->net, final, prefix)))
            return rc;
    } else if ((st = bp_evaluate_parallel(r->net, final, r->ranks.parallel, &loss, &acc, NULL))) {
        return cli_fail(name, st, "cannot evaluate on the %s set", has_test(o) ? "test" :
                        "validation");
    } else {
        printf("%s accuracy %.4f\n", set, acc);
    }
    if (r->ranks.rank > 0) /* rank 0 writes the model and the log */
        return CLI_OK;
    if ((st = bp_model_save(r->net, o->out)))
        return cli_fail(name, st, "cannot save the model to %s", o->out);
    printf("saved %s\n", o->out);
    return r->log ? publish_log(name, o, r) : CLI_OK;
}

/* The flags of train write into this (set to TRAIN_DEFAULTS before parsing), so that their table
 * is a constant. */
static train_opts flags;

static const cli_option OPTIONS[] = {
    CLI_NET_OPTIONS(&flags.net),
    CLI_ENUM("optimizer", &flags.optimizer, "OPT", cli_optimizers, "optimizer"),
    CLI_INTEGER("epochs", &flags.epochs, "N", 1, INT_MAX, "epochs"),
    CLI_INTEGER("batch", &flags.batch, "N", 1, 1 << 20, "mini-batch size"),
    {.name = "eta", .alias = "lr", .type = CLI_REAL, .dest = &flags.eta, .meta = "X",
     .help = "learning rate", .min = 0, .max = FLT_MAX, .open = CLI_OPEN_MIN},
    CLI_NUMBER("lambda", &flags.lambda, "X", 0, FLT_MAX, 0, "L2 weight decay"),
    CLI_TEXT("weight-decay", &flags.weight_decay_arg, "X",
             "decoupled weight decay: w <- (1 - eta X) w beside the step (AdamW; none by default "
             "with --targets or --forces)"),
    CLI_TEXT("dropout", &flags.dropout, "R[,R..]", "dropout rate of every hidden layer, or one "
             "per hidden layer (0 = none; no dropout by default with --targets or --forces)"),
    CLI_NUMBER("input-dropout", &flags.input_dropout, "R", 0, 1, CLI_OPEN_MAX,
               "dropout rate of the inputs"),
    CLI_NUMBER("momentum", &flags.momentum, "X", 0, 1, CLI_OPEN_MAX,
               "momentum coefficient (momentum, nesterov)"),
    CLI_NUMBER("clip", &flags.clip, "X", 0, FLT_MAX, 0, "clip the gradient norm to X (0 = off)"),
    CLI_ENUM("schedule", &flags.schedule, "SCHED", cli_schedules, "learning-rate schedule"),
    CLI_INTEGER("step-epochs", &flags.step_epochs, "N", 1, INT_MAX,
                "step schedule: epochs between decays"),
    CLI_NUMBER("gamma", &flags.gamma, "X", 0, 1, CLI_OPEN_MIN, "step schedule: decay factor"),
    CLI_NUMBER("eta-min", &flags.eta_min, "X", 0, FLT_MAX, 0, "cosine schedule: final rate"),
    CLI_INTEGER("patience", &flags.patience, "N", 0, INT_MAX,
                "stop after N epochs without a better evaluation accuracy and keep the best "
                "(0 = off)"),
    CLI_INTEGER("threads", &flags.threads, "N", 0, 1024,
                "OpenBLAS threads (0 = 1 for a small step, else OpenBLAS's default)"),
    CLI_INTEGER("workers", &flags.workers, "N", 0, BP_MAX_WORKERS,
                "worker threads, each a share of the batch (0 = one per core for a mid-sized "
                "step unless --threads or the BLAS's thread variable is set, else 1)"),
    CLI_ENUM("device", &flags.device, "DEV", cli_devices, "train on the CPU or on a CUDA GPU"),
    CLI_DATA_DIR_OPTION(&flags.data, "train-* and t10k-*"),
    CLI_TEXT("train-csv", &flags.data.train_csv, "FILE",
             "training CSV: features, then the label (- = standard input)"),
    CLI_TEXT("test-csv", &flags.data.test_csv, "FILE", "test CSV: features, then the label"),
    CLI_TARGETS_OPTION(&flags.data), CLI_NORMALIZE_OPTION(&flags.normalize),
    CLI_FLAG("header", &flags.data.header, "the first line of each CSV file is a header "
             "(default: detected, a first line with no number)"),
    CLI_INTEGER("forces", &flags.data.forces, "K", 0, INT_MAX - 1,
                "train on energies and forces: each CSV row is the K inputs, the energy, then the K "
                "forces -dE/dx (K = the network's inputs; 0 = a label)"),
    {.name = "energy-weight", .type = CLI_REAL, .dest = &flags.energy_weight, .meta = "X",
     .help = "--forces: weight w_E of the energy term", .max = FLT_MAX,
     .given = &flags.weight_given},
    {.name = "force-weight", .type = CLI_REAL, .dest = &flags.force_weight, .meta = "X",
     .help = "--forces: weight w_F of the force term", .max = FLT_MAX,
     .given = &flags.weight_given},
    CLI_INTEGER("validation", &flags.validation, "N", 0, INT_MAX,
                "evaluate each epoch on N training samples drawn at random with --seed "
                "(stratified by class), held out (0 = on the test set)"),
    CLI_TEXT("out", &flags.out, "MODEL", "where to save the model"),
    CLI_TEXT("log", &flags.log, "FILE", "write one CSV row per epoch to FILE"),
    CLI_TEXT("plot", &flags.plot, "FILE.png", "draw the loss and accuracy per epoch into FILE.png "
             "(needs gnuplot)"),
    CLI_FLAG("quiet", &flags.quiet, "no progress bar and no per-epoch lines"),
    CLI_INTEGER("checkpoint-every", &flags.checkpoint_every, "K", 0, INT_MAX,
                "write a checkpoint after every K-th epoch (0 = never)"),
    CLI_TEXT("checkpoint", &flags.checkpoint, "FILE", "where --checkpoint-every writes (default "
             "MODEL.ckpt, MODEL the --out path)"),
    CLI_TEXT("resume", &flags.resume, "FILE", "continue the run of the same flags from this "
             "checkpoint"),
};

/* MODEL.ckpt, the default of --checkpoint, into r->checkpoint. */
static int default_checkpoint(const char *name, train_opts *o, train_run *r)
{
    size_t size = strlen(o->out) + sizeof ".ckpt";
    if (!(r->checkpoint = malloc(size)))
        return cli_error(name, "out of memory");
    snprintf(r->checkpoint, size, "%s.ckpt", o->out);
    o->checkpoint = r->checkpoint;
    return CLI_OK;
}

int cli_train(const cli_subcommand *self, int argc, char **argv)
{
    const cli_command cmd = {.sub = self, .description = DESCRIPTION, .options = OPTIONS,
                             .num_options = sizeof OPTIONS / sizeof OPTIONS[0]};
    train_opts *o = &flags;
    train_run r = {.argc = argc, .argv = argv};
    int rc;
    flags = TRAIN_DEFAULTS;
    if ((rc = cli_parse(&cmd, argc, argv)))
        return rc < 0 ? CLI_OK : rc;
    const cli_layers *l = &o->net.layers;
    if ((rc = check_flags(&cmd, o)) ||
        (rc = cli_data_width_check(self->name, &o->data, l->sizes[0], l->sizes[l->count - 1])) ||
        (rc = cli_net_build(&cmd, &o->net, &r.net)))
        return rc;
    o->workers = blas_threads_choose(o->threads, o->workers, r.net, o->batch, o->data.forces > 0);
    /* Every rank prepares; if one fails, all stop before training waits for it. */
    if (!(o->checkpoint_every > 0 && !o->checkpoint &&
          (rc = default_checkpoint(self->name, o, &r))) &&
        !(rc = cli_ranks_start(&r.ranks, self->name)) &&
        !(rc = cli_ranks_agree(&r.ranks, prepare(&cmd, o, &r))) &&
        !(rc = run_training(self->name, o, &r)))
        rc = finish(self->name, o, &r);
    train_run_free(&r);
    cli_ranks_stop(&r.ranks);
    return rc;
}
