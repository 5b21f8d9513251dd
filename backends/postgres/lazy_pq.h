/* lazy_pq.h — libpq as the postgres:// backend uses it: loaded at the
 * first session's open (lib/dlib.h), so that a process that never opens a
 * postgres:// session never maps libpq and its Kerberos and LDAP. Included
 * by the backend's .c files after postgres.h (not by it: the tests use
 * libpq directly): the names below become calls through the table, which
 * is filled only once baton__dlib_load succeeded. */
#ifndef BATON_POSTGRES_LAZY_PQ_H
#define BATON_POSTGRES_LAZY_PQ_H

#include "dlib.h"

#include <libpq-fe.h>

#define BATON_PQ_SYMS(X)                                                                   \
  X(PQbackendPID) X(PQclear) X(PQconnectPoll) X(PQconnectStartParams)                     \
  X(PQconnectionNeedsPassword) X(PQconninfoFree) X(PQconninfoParse) X(PQconsumeInput)     \
  X(PQerrorMessage) X(PQfinish) X(PQflush) X(PQfreemem) X(PQgetResult) X(PQgetisnull)     \
  X(PQgetlength) X(PQgetvalue) X(PQisBusy) X(PQnfields) X(PQnotifies) X(PQntuples)        \
  X(PQresultErrorField) X(PQresultErrorMessage) X(PQresultStatus) X(PQsendQuery)          \
  X(PQsendQueryParams) X(PQsendQueryPrepared) X(PQserverVersion)                          \
  X(PQsetNoticeProcessor) X(PQsetnonblocking) X(PQsocket) X(PQstatus)

BATON_DLIB_DECLARE(baton__pq, BATON_PQ_SYMS)

#define PQbackendPID (baton__pq.PQbackendPID)
#define PQclear (baton__pq.PQclear)
#define PQconnectPoll (baton__pq.PQconnectPoll)
#define PQconnectStartParams (baton__pq.PQconnectStartParams)
#define PQconnectionNeedsPassword (baton__pq.PQconnectionNeedsPassword)
#define PQconninfoFree (baton__pq.PQconninfoFree)
#define PQconninfoParse (baton__pq.PQconninfoParse)
#define PQconsumeInput (baton__pq.PQconsumeInput)
#define PQerrorMessage (baton__pq.PQerrorMessage)
#define PQfinish (baton__pq.PQfinish)
#define PQflush (baton__pq.PQflush)
#define PQfreemem (baton__pq.PQfreemem)
#define PQgetResult (baton__pq.PQgetResult)
#define PQgetisnull (baton__pq.PQgetisnull)
#define PQgetlength (baton__pq.PQgetlength)
#define PQgetvalue (baton__pq.PQgetvalue)
#define PQisBusy (baton__pq.PQisBusy)
#define PQnfields (baton__pq.PQnfields)
#define PQnotifies (baton__pq.PQnotifies)
#define PQntuples (baton__pq.PQntuples)
#define PQresultErrorField (baton__pq.PQresultErrorField)
#define PQresultErrorMessage (baton__pq.PQresultErrorMessage)
#define PQresultStatus (baton__pq.PQresultStatus)
#define PQsendQuery (baton__pq.PQsendQuery)
#define PQsendQueryParams (baton__pq.PQsendQueryParams)
#define PQsendQueryPrepared (baton__pq.PQsendQueryPrepared)
#define PQserverVersion (baton__pq.PQserverVersion)
#define PQsetNoticeProcessor (baton__pq.PQsetNoticeProcessor)
#define PQsetnonblocking (baton__pq.PQsetnonblocking)
#define PQsocket (baton__pq.PQsocket)
#define PQstatus (baton__pq.PQstatus)

#endif /* BATON_POSTGRES_LAZY_PQ_H */
