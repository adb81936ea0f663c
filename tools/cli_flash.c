/*
 * The ecom commands for flash sales: flash open, claim, poll, release, commit,
 * status and close. Each prints text for people, or JSON with --json.
 */
#include <inttypes.h>
#include <stdio.h>

#include "cli.h"

#define CLAIM_QTY_DEFAULT 1

/* ---- claims ---- */

static const char *outcome_name(ecom_claim_outcome outcome)
{
    switch (outcome) {
    case ECOM_CLAIM_ADMITTED:
        return "admitted";
    case ECOM_CLAIM_QUEUED:
        return "queued";
    case ECOM_CLAIM_SOLD_OUT:
        return "sold_out";
    case ECOM_CLAIM_LIMIT:
        return "limit";
    case ECOM_CLAIM_NOT_STARTED:
        return "not_started";
    case ECOM_CLAIM_ENDED:
        return "ended";
    case ECOM_CLAIM_EXPIRED:
        return "expired";
    case ECOM_CLAIM_RELEASED:
        return "released";
    case ECOM_CLAIM_COMMITTED:
        return "committed";
    }
    return "unknown";
}

/* The exit code of a claim: 0 when it holds units, else why it got none. */
static int outcome_exit_code(ecom_claim_outcome outcome)
{
    switch (outcome) {
    case ECOM_CLAIM_ADMITTED:
    case ECOM_CLAIM_QUEUED:
        return CLI_OK;
    case ECOM_CLAIM_SOLD_OUT:
    case ECOM_CLAIM_LIMIT:
        return CLI_INSUFFICIENT;
    case ECOM_CLAIM_NOT_STARTED:
    case ECOM_CLAIM_ENDED:
    case ECOM_CLAIM_EXPIRED:
    case ECOM_CLAIM_RELEASED:
    case ECOM_CLAIM_COMMITTED:
        return CLI_ENDED;
    }
    return CLI_FAILURE;
}

static cJSON *claim_json(const ecom_claim_result *r)
{
    cJSON *o = cJSON_CreateObject();
    if (o && cJSON_AddStringToObject(o, "outcome", outcome_name(r->outcome)) &&
        (r->claim_id[0] ? cJSON_AddStringToObject(o, "claim_id", r->claim_id)
                        : cJSON_AddNullToObject(o, "claim_id")) &&
        (r->user[0] ? cJSON_AddStringToObject(o, "user", r->user)
                    : cJSON_AddNullToObject(o, "user")) &&
        cli_json_add_i64(o, "quantity", r->quantity) == 0 &&
        cli_json_add_u64(o, "position", r->position) == 0 &&
        cli_json_add_i64(o, "wait_ms", r->wait_ms) == 0 &&
        cli_json_add_i64(o, "admit_at", r->admit_at) == 0 &&
        cli_json_add_i64(o, "expires_at", r->expires_at) == 0)
        return o;
    cJSON_Delete(o);
    return NULL;
}

static void print_claim_text(const ecom_claim_result *r)
{
    printf("outcome:    %s\n", outcome_name(r->outcome));
    if (r->claim_id[0] == '\0')
        return;
    char admit[40], expires[40];
    cli_format_time(admit, sizeof admit, r->admit_at);
    cli_format_time(expires, sizeof expires, r->expires_at);
    printf("claim:      %s\n"
           "quantity:   %" PRId64 "\n",
           r->claim_id, r->quantity);
    if (r->user[0])
        printf("user:       %s\n", r->user);
    if (r->outcome == ECOM_CLAIM_QUEUED)
        printf("position:   %" PRIu64 "\n"
               "wait:       %" PRId64 " ms\n"
               "admit at:   %s\n",
               r->position, r->wait_ms, admit);
    printf("expires:    %s\n", expires);
}

static int print_claim(const cli *c, const ecom_claim_result *r)
{
    if (c->args.json)
        return cli_print_json(claim_json(r));
    print_claim_text(r);
    return CLI_OK;
}

int cmd_flash_claim(cli *c)
{
    if (c->args.user == NULL || c->args.key == NULL)
        return cli_usage_error("flash claim needs --user U and --key K");
    int64_t qty = (c->args.given & OPT_QTY) ? c->args.qty : CLAIM_QTY_DEFAULT;
    ecom_claim_result r = ECOM_CLAIM_RESULT_INIT;
    int rc = ecom_flash_claim(&r, c->store, c->args.pos[0], c->args.user, qty, c->args.key);
    if (rc != ECOM_OK)
        return cli_fail(c, rc);
    rc = print_claim(c, &r);
    return rc != CLI_OK ? rc : outcome_exit_code(r.outcome);
}

int cmd_flash_poll(cli *c)
{
    ecom_claim_result r = ECOM_CLAIM_RESULT_INIT;
    int rc = ecom_flash_poll(&r, c->store, c->args.pos[0]);
    return rc == ECOM_OK ? print_claim(c, &r) : cli_fail(c, rc);
}

int cmd_flash_release(cli *c)
{
    return cli_apply(c, ecom_flash_release, "released");
}

int cmd_flash_commit(cli *c)
{
    return cli_apply(c, ecom_flash_commit, "committed");
}

/* ---- sales ---- */

static int add_status_figures(cJSON *o, const ecom_flash_status *s)
{
    return cli_json_add_i64(o, "units", s->units) == 0 &&
                   cli_json_add_i64(o, "remaining", s->remaining) == 0 &&
                   cli_json_add_i64(o, "held", s->held) == 0 &&
                   cli_json_add_i64(o, "sold", s->sold) == 0 &&
                   cli_json_add_u64(o, "claims", s->claims) == 0 &&
                   cli_json_add_i64(o, "starts_at", s->starts_at) == 0 &&
                   cli_json_add_i64(o, "ends_at", s->ends_at) == 0 &&
                   cli_json_add_i64(o, "per_user_limit", s->per_user_limit) == 0 &&
                   cli_json_add_i64(o, "claim_ttl_ms", s->claim_ttl_ms) == 0 &&
                   cli_json_add_i64(o, "admit_per_second", s->admit_per_second) == 0
               ? 0
               : -1;
}

static cJSON *status_json(const char *sale, const ecom_flash_status *s)
{
    cJSON *o = cJSON_CreateObject();
    if (o && cJSON_AddStringToObject(o, "sale", sale) &&
        cJSON_AddStringToObject(o, "sku", s->sku) &&
        cJSON_AddStringToObject(o, "location", s->location) &&
        cJSON_AddBoolToObject(o, "open", s->open != 0) && add_status_figures(o, s) == 0)
        return o;
    cJSON_Delete(o);
    return NULL;
}

static void print_status_text(const char *sale, const ecom_flash_status *s)
{
    char starts[40], ends[40];
    cli_format_time(starts, sizeof starts, s->starts_at);
    if (s->ends_at)
        cli_format_time(ends, sizeof ends, s->ends_at);
    else
        snprintf(ends, sizeof ends, "never");
    printf("sale:        %s (%s)\n"
           "sku:         %s at %s\n"
           "units:       %" PRId64 ": %" PRId64 " remaining, %" PRId64 " held, %" PRId64
           " sold\n"
           "claims:      %" PRIu64 "\n"
           "starts:      %s\n"
           "ends:        %s\n",
           sale, s->open ? "open" : "closed", s->sku, s->location, s->units, s->remaining,
           s->held, s->sold, s->claims, starts, ends);
    if (s->per_user_limit)
        printf("user limit:  %" PRId64 "\n", s->per_user_limit);
    else
        printf("user limit:  none\n");
    printf("claim ttl:   %" PRId64 " s\n", s->claim_ttl_ms / 1000);
    if (s->admit_per_second)
        printf("admits:      %" PRId64 " per second\n", s->admit_per_second);
    else
        printf("admits:      no queue\n");
}

static int show_status(cli *c, const char *sale)
{
    ecom_flash_status s = {.version = ECOM_FLASH_STATUS_VERSION};
    int rc = ecom_flash_status_get(&s, c->store, sale);
    if (rc != ECOM_OK)
        return cli_fail(c, rc);
    if (c->args.json)
        return cli_print_json(status_json(sale, &s));
    print_status_text(sale, &s);
    return CLI_OK;
}

int cmd_flash_status(cli *c)
{
    return show_status(c, c->args.pos[0]);
}

int cmd_flash_open(cli *c)
{
    if (c->args.sku == NULL || !(c->args.given & OPT_UNITS))
        return cli_usage_error("flash open needs --sku SKU and --units N");
    ecom_flash_options opts = ECOM_FLASH_OPTIONS_INIT;
    opts.sku = c->args.sku;
    opts.location = c->args.location;
    opts.units = c->args.units;
    opts.starts_at = c->args.starts_at;
    opts.ends_at = c->args.ends_at;
    opts.per_user_limit = c->args.per_user_limit;
    opts.admit_per_second = c->args.admit_per_second;
    int rc = cli_seconds_to_ms(c->args.claim_ttl, "--claim-ttl", &opts.claim_ttl_ms);
    if (rc != CLI_OK)
        return rc;
    rc = ecom_flash_open(c->store, c->args.pos[0], &opts);
    return rc == ECOM_OK ? show_status(c, c->args.pos[0]) : cli_fail(c, rc);
}

int cmd_flash_close(cli *c)
{
    return cli_apply(c, ecom_flash_close, "closed");
}
